// Package credentials signs encode outputs with C2PA Content Credentials
// without giving the worker a key: the pipeline's Verify step, after it has
// re-hashed the worker's outputs, asks a Sealer to embed a manifest signed
// by the workspace's certificate and to write the result to a fresh key
// through a fresh presigned PUT; the worker's upload URLs never reach it.
//
// Certificates come from the keyring (nothing new to store or rotate): the
// root is a self-signed CA over the keyring's current Ed25519 key
// (deterministic, so every instance derives the same bytes); each
// workspace's ES256 signing key is derived from the keyring's HMAC master
// secret (HKDF-SHA256, per workspace) and certified by that root at signing
// time. The package also owns the workspace's Content Credentials settings
// (content_credentials_settings: the declared digital source type).
package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
)

// rootNotBefore is the root certificate's start (fixed, so the root is a
// function of the key alone).
var rootNotBefore = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// SignerValidity is how long a workspace signing certificate is valid.
// Without an RFC 3161 time-stamp, readers check the certificate at reading
// time, so it must outlive the files' useful life (see README).
const SignerValidity = 5 * 365 * 24 * time.Hour

// Issuer derives the root and the workspaces' signers from a keyring.
type Issuer struct {
	Keys keyring.Provider
	// Pool, when set, is where workspaces' uploaded certificate chains are
	// read (content_credentials_settings).
	Pool *pgxpool.Pool
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	mu   sync.Mutex
	root map[string]c2pa.CA // by Ed25519 key id
}

func (i *Issuer) now() time.Time {
	if i.Now != nil {
		return i.Now()
	}
	return time.Now()
}

// Root is the CA over the keyring's current Ed25519 key. Its PEM is what a
// verifier adds to its trust anchors.
func (i *Issuer) Root(ctx context.Context) (c2pa.CA, error) {
	s, err := i.Keys.Signer(ctx)
	if err != nil {
		return c2pa.CA{}, fmt.Errorf("credentials: %w", err)
	}
	return i.rootFor(s)
}

// Roots are every root whose certificate is valid now, the current one
// first, then those over retired keys, newest first: certificates issued
// before a keyring rotation chain to them, so they stay published. A
// provider that keeps no retired private keys (not a
// keyring.SignerHistory) yields the current root only.
func (i *Issuer) Roots(ctx context.Context) ([]c2pa.CA, error) {
	cur, err := i.Root(ctx)
	if err != nil {
		return nil, err
	}
	out := []c2pa.CA{cur}
	h, ok := i.Keys.(keyring.SignerHistory)
	if !ok {
		return out, nil
	}
	signers, err := h.Signers(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	now := i.now()
	for k := len(signers) - 1; k >= 0; k-- {
		ca, err := i.rootFor(signers[k])
		if err != nil {
			return nil, err
		}
		if ca.Cert.Equal(cur.Cert) || now.Before(ca.Cert.NotBefore) || now.After(ca.Cert.NotAfter) {
			continue
		}
		out = append(out, ca)
	}
	return out, nil
}

// rootFor is the (cached) root over Ed25519 key s.
func (i *Issuer) rootFor(s keyring.Signer) (c2pa.CA, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if ca, ok := i.root[s.ID]; ok {
		return ca, nil
	}
	ca, err := c2pa.NewCA(s.Key, "Framebroker Content Credentials Root "+s.ID, rootNotBefore)
	if err != nil {
		return c2pa.CA{}, err
	}
	if i.root == nil {
		i.root = map[string]c2pa.CA{}
	}
	i.root[s.ID] = ca
	return ca, nil
}

// key is ws's signing key, derived from the current HMAC master.
func (i *Issuer) key(ctx context.Context, ws id.WorkspaceID) (*ecdsa.PrivateKey, error) {
	hid, master, err := i.Keys.HMAC(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return c2pa.DeriveP256(master, "framebroker/c2pa/v1/workspace-signer\x00"+hid+"\x00"+ws.String())
}

// Signer returns ws's claim signer: its derived ES256 key with the chain
// the workspace uploaded for it (when Pool is set and the chain is still
// valid and for this key), else a certificate issued now by the root,
// valid for SignerValidity.
func (i *Issuer) Signer(ctx context.Context, ws id.WorkspaceID) (c2pa.Signer, error) {
	key, err := i.key(ctx, ws)
	if err != nil {
		return c2pa.Signer{}, err
	}
	if i.Pool != nil {
		chain, err := chainFor(ctx, i.Pool, ws, key)
		if err != nil {
			return c2pa.Signer{}, err
		}
		if chain != nil {
			return c2pa.Signer{Key: key, Chain: chain}, nil
		}
	}
	ca, err := i.Root(ctx)
	if err != nil {
		return c2pa.Signer{}, err
	}
	now := i.now()
	der, err := ca.Issue(key.Public(), pkix.Name{
		CommonName: "Framebroker workspace " + ws.String(), Organization: []string{"Framebroker"}, OrganizationalUnit: []string{"Content Credentials"},
	}, now.Add(-5*time.Minute), now.Add(SignerValidity))
	if err != nil {
		return c2pa.Signer{}, err
	}
	return c2pa.Signer{Key: key, Chain: [][]byte{der}}, nil
}

// Agent is the software agent written into claims: "Framebroker" and the
// build's version (the module version, else the VCS revision, else "dev").
func Agent() c2pa.Generator {
	v := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		} else {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v = s.Value[:12]
				}
			}
		}
	}
	return c2pa.Generator{Name: "Framebroker", Version: v}
}

// SourceType is the digital source type ws declares ("" if none), read in
// a workspace-scoped transaction.
func SourceType(ctx context.Context, tx pgx.Tx, ws id.WorkspaceID) (string, error) {
	var t *string
	err := tx.QueryRow(ctx, `SELECT digital_source_type FROM content_credentials_settings WHERE workspace_id = $1`, ws).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) || t == nil {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("credentials: settings: %w", err)
	}
	return *t, nil
}

// IssuedBy trusts a C2PA signing certificate issued (signed) by one of
// keys, the keyring's published Ed25519 keys, by a key in service when the
// certificate's validity began. Framebroker's credentials roots are those
// keys (shared/credentials), so a rotated root stays verifiable from GET
// /v1/provenance/keys alone.
func IssuedBy(keys keyring.Set) func(*x509.Certificate) error {
	return func(leaf *x509.Certificate) error {
		if leaf.SignatureAlgorithm != x509.PureEd25519 {
			return errors.New("not issued by a Framebroker key (not Ed25519-signed)")
		}
		for _, k := range keys.Keys {
			if ed25519.Verify(k.Key, leaf.RawTBSCertificate, leaf.Signature) {
				if !k.ValidAt(leaf.NotBefore) {
					return errors.New("issued by key " + k.ID + " outside its service window")
				}
				return nil
			}
		}
		return errors.New("not issued by any published Framebroker key")
	}
}
