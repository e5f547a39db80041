package keyring

import (
	"context"
	"errors"
	"os"
)

// ErrNoKeyring is None's answer: this process was given no keys.
var ErrNoKeyring = errors.New("keyring: this process has no keyring")

// None is the Provider of a process that was given no keys: every call
// fails with ErrNoKeyring. It never generates keys.
type None struct{}

// Signer implements Provider.
func (None) Signer(context.Context) (Signer, error) { return Signer{}, ErrNoKeyring }

// PublicKeys implements Provider.
func (None) PublicKeys(context.Context) (Set, error) { return Set{}, ErrNoKeyring }

// HMAC implements Provider.
func (None) HMAC(context.Context, string) (string, []byte, error) { return "", nil, ErrNoKeyring }

// Default is the Provider of a process given no keyring document: the
// local keyring directory (generated on first use) on a developer's
// machine, but None in a Lambda container (AWS_LAMBDA_RUNTIME_API set),
// where a generated keyring would be per-container and thrown away with
// it. Signing functions refuse to start without a keyring instead
// (lambdafn/coldstart), so None is only ever behind routes that do not sign.
func Default() Provider {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		return None{}
	}
	return NewDir(DefaultDir())
}
