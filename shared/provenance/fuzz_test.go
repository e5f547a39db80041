package provenance_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/provenance"
)

// FuzzVerify: the envelope and manifest parsers and the checks never panic,
// and nothing but an envelope sealed with the trusted key is valid.
func FuzzVerify(f *testing.F) {
	dir := keyring.NewDir(f.TempDir())
	keys, err := dir.PublicKeys(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	m := provenance.Manifest{Type: provenance.ManifestType, Release: id.New[id.ReleaseID](), Workspace: id.New[id.WorkspaceID](),
		Name: "R", PublishedAt: time.Now().UTC(), Shots: []provenance.Shot{{Position: 1, Shot: id.New[id.ShotID](), Outputs: []provenance.Output{}, Jobs: []provenance.Job{}}}}
	env, _, err := provenance.Seal(context.Background(), dir, m)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(env)
	if r := provenance.Verify(good, provenance.Options{Keys: keys}); !r.Valid {
		f.Fatalf("seed envelope invalid: %+v", r.Checks)
	}
	f.Add(good)
	f.Add([]byte(`{"payloadType":"x","payload":"e30=","signatures":[{"keyid":"k","sig":""}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := provenance.Verify(b, provenance.Options{Keys: keys, HMACMaster: func(string) ([]byte, error) { return nil, keyring.ErrUnknownKey }})
		if r.Valid {
			t.Fatalf("valid without the HMAC key: %s", b)
		}
		r = provenance.Verify(b, provenance.Options{Keys: keys})
		if r.Valid && r.Manifest == nil {
			t.Fatal("valid without a manifest")
		}
	})
}
