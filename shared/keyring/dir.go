package keyring

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// EnvDir names the directory of the local keyring.
const EnvDir = "FRAMEBROKER_KEYRING_DIR"

// DefaultDir is $FRAMEBROKER_KEYRING_DIR, or framebroker/keyring under the
// user's configuration directory (outside the checkout and the database).
func DefaultDir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	base, err := os.UserConfigDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "framebroker", "keyring")
}

// Dir is the local Provider: keyring.json (mode 0600) in a directory,
// generated on first use.
type Dir struct {
	path string
	mu   sync.Mutex
}

type dirFile struct {
	Ed25519 []dirSigner `json:"ed25519"`
	HMAC    []dirHMAC   `json:"hmac"`
}

type dirSigner struct {
	ID        string     `json:"keyid"`
	Seed      []byte     `json:"seed"`
	NotBefore time.Time  `json:"not_before"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
}

type dirHMAC struct {
	ID      string    `json:"keyid"`
	Secret  []byte    `json:"secret"`
	Created time.Time `json:"created_at"`
}

// NewDir returns the keyring in dir. Nothing is read until a key is
// needed; the first use creates the directory and fresh keys if absent.
func NewDir(dir string) *Dir {
	return &Dir{path: filepath.Join(dir, "keyring.json")}
}

// generate creates the keyring file with fresh keys unless another process
// got there first.
func (d *Dir) generate() error {
	if err := os.MkdirAll(filepath.Dir(d.path), 0o700); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	f := dirFile{}
	f.add(time.Now().UTC())
	if err := d.create(f); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// add puts a fresh Ed25519 key and HMAC secret in service from now, retiring
// the current ones.
func (f *dirFile) add(now time.Time) {
	seed := make([]byte, ed25519.SeedSize)
	secret := make([]byte, 32)
	idb := make([]byte, 8)
	_, _ = rand.Read(seed)
	_, _ = rand.Read(secret)
	_, _ = rand.Read(idb)
	for i := range f.Ed25519 {
		if f.Ed25519[i].NotAfter == nil {
			t := now
			f.Ed25519[i].NotAfter = &t
		}
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	f.Ed25519 = append(f.Ed25519, dirSigner{ID: KeyID(pub), Seed: seed, NotBefore: now})
	f.HMAC = append(f.HMAC, dirHMAC{ID: "hmac-" + hex.EncodeToString(idb), Secret: secret, Created: now})
}

func (d *Dir) load() (dirFile, error) {
	var f dirFile
	b, err := os.ReadFile(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := d.generate(); err != nil {
			return f, err
		}
		b, err = os.ReadFile(d.path)
	}
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("keyring: %s: %w", d.path, err)
	}
	if len(f.Ed25519) == 0 || len(f.HMAC) == 0 {
		return f, fmt.Errorf("keyring: %s holds no keys", d.path)
	}
	return f, nil
}

// create writes f to the keyring path unless a file is already there
// (fs.ErrExist): concurrent first runs agree on one keyring.
func (d *Dir) create(f dirFile) error {
	tmp, err := d.writeTemp(f)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, d.path); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	return nil
}

func (d *Dir) writeTemp(f dirFile) (string, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", err
	}
	t, err := os.CreateTemp(filepath.Dir(d.path), ".keyring-*")
	if err != nil {
		return "", fmt.Errorf("keyring: %w", err)
	}
	defer t.Close()
	if err := t.Chmod(0o600); err != nil {
		return "", err
	}
	if _, err := t.Write(b); err != nil {
		return "", err
	}
	return t.Name(), t.Sync()
}

// Rotate puts new keys in service from now; the old public keys stay
// published with NotAfter = now.
func (d *Dir) Rotate(now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := d.load()
	if err != nil {
		return err
	}
	f.add(now.UTC())
	tmp, err := d.writeTemp(f)
	if err != nil {
		return err
	}
	return os.Rename(tmp, d.path)
}

// Signer implements Provider.
func (d *Dir) Signer(ctx context.Context) (Signer, error) {
	f, err := d.load()
	if err != nil {
		return Signer{}, err
	}
	return f.signer(), nil
}

// PublicKeys implements Provider.
func (d *Dir) PublicKeys(ctx context.Context) (Set, error) {
	f, err := d.load()
	if err != nil {
		return Set{}, err
	}
	return f.publicKeys(), nil
}

// HMAC implements Provider.
func (d *Dir) HMAC(ctx context.Context, id string) (string, []byte, error) {
	f, err := d.load()
	if err != nil {
		return "", nil, err
	}
	return f.hmac(id)
}

// Signers implements SignerHistory.
func (d *Dir) Signers(ctx context.Context) ([]Signer, error) {
	f, err := d.load()
	if err != nil {
		return nil, err
	}
	return f.signers(), nil
}

func (f dirFile) signers() []Signer {
	out := make([]Signer, 0, len(f.Ed25519))
	for _, k := range f.Ed25519 {
		out = append(out, Signer{ID: k.ID, Key: ed25519.NewKeyFromSeed(k.Seed)})
	}
	return out
}

func (f dirFile) signer() Signer {
	k := f.Ed25519[len(f.Ed25519)-1]
	return Signer{ID: k.ID, Key: ed25519.NewKeyFromSeed(k.Seed)}
}

func (f dirFile) publicKeys() Set {
	s := Set{Keys: make([]PublicKey, 0, len(f.Ed25519))}
	for _, k := range f.Ed25519 {
		pub := ed25519.NewKeyFromSeed(k.Seed).Public().(ed25519.PublicKey)
		s.Keys = append(s.Keys, PublicKey{ID: k.ID, Algorithm: AlgEd25519, Key: pub, NotBefore: k.NotBefore, NotAfter: k.NotAfter})
	}
	return s
}

func (f dirFile) hmac(id string) (string, []byte, error) {
	if id == "" {
		k := f.HMAC[len(f.HMAC)-1]
		return k.ID, k.Secret, nil
	}
	for _, k := range f.HMAC {
		if k.ID == id {
			return k.ID, k.Secret, nil
		}
	}
	return "", nil, ErrUnknownKey
}
