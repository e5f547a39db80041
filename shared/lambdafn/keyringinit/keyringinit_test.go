package keyringinit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/framebroker/framebroker/shared/keyring"
)

// memSecret is one secret in memory (Secrets Manager has no local twin;
// the handler's contract is only read-then-maybe-put).
type memSecret struct {
	value  string
	getErr error
	puts   int
}

func (m *memSecret) SecretString(context.Context, string) (string, error) { return m.value, m.getErr }
func (m *memSecret) PutSecretString(_ context.Context, _ string, v string) error {
	m.puts++
	m.value = v
	return nil
}

func TestHandler(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC) }
	existing, err := keyring.NewKeyring(now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		secret   memSecret
		request  cfn.RequestType
		wantPuts int
		wantErr  string
		keepSame bool
	}{
		{name: "placeholder replaced on create", secret: memSecret{value: "Zq3placeholderRandom"}, request: cfn.RequestCreate, wantPuts: 1},
		{name: "keyring kept on create", secret: memSecret{value: string(existing)}, request: cfn.RequestCreate, keepSame: true},
		{name: "keyring kept on update", secret: memSecret{value: string(existing)}, request: cfn.RequestUpdate, keepSame: true},
		{name: "unreadable secret not overwritten", secret: memSecret{value: "x", getErr: errors.New("AccessDenied")}, request: cfn.RequestCreate, wantErr: "read keyring secret"},
		{name: "broken keyring not overwritten", secret: memSecret{value: `{"ed25519":[],"hmac":[]}`}, request: cfn.RequestUpdate, wantErr: "refusing to replace"},
		{name: "delete leaves the secret", secret: memSecret{value: "placeholder"}, request: cfn.RequestDelete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.secret
			before := s.value
			phys, data, err := Handler(&s, "arn:aws:secretsmanager:eu-west-1:111122223333:secret:kr", now)(context.Background(),
				cfn.Event{RequestType: tc.request, PhysicalResourceID: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:kr"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if s.puts != tc.wantPuts {
				t.Fatalf("puts = %d, want %d", s.puts, tc.wantPuts)
			}
			if tc.keepSame && s.value != before {
				t.Fatal("an existing keyring was replaced")
			}
			if tc.wantPuts > 0 {
				if _, err := keyring.ParseKeyring([]byte(s.value)); err != nil {
					t.Fatalf("written value is not a keyring: %v", err)
				}
			}
			if phys == "" || len(data) != 0 {
				t.Fatalf("physical id %q, data %v (no key material may be returned)", phys, data)
			}
		})
	}
	// Two first deploys generate different keys.
	a, b := memSecret{value: "p"}, memSecret{value: "p"}
	fa, fb := Handler(&a, "arn", now), Handler(&b, "arn", now)
	fa(context.Background(), cfn.Event{RequestType: cfn.RequestCreate})
	fb(context.Background(), cfn.Event{RequestType: cfn.RequestCreate})
	if a.value == b.value {
		t.Fatal("two stacks got the same keyring")
	}
}
