package provenance

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/framebroker/framebroker/shared/keyring"
)

// MaxEnvelope bounds an envelope accepted for verification.
const MaxEnvelope = 8 << 20

// Check is one named verification step.
type Check struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Skipped bool   `json:"skipped,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// Result is the outcome of Verify: valid only if no check failed and the
// Ed25519 signature was checked.
type Result struct {
	Valid    bool      `json:"valid"`
	Release  string    `json:"release,omitempty"`
	Manifest *Manifest `json:"-"`
	Checks   []Check   `json:"checks"`
}

// Options are what a verifier knows.
type Options struct {
	// Keys are the trusted Ed25519 public keys.
	Keys keyring.Set
	// HMACMaster returns an HMAC master secret by id (ErrUnknownKey if
	// none); nil skips the HMAC check (offline).
	HMACMaster func(id string) ([]byte, error)
	// FilesDir, if set, holds the outputs: each output's file (by its
	// filename) must be there with the manifest's SHA-256.
	FilesDir string
}

type checker struct{ r Result }

// add records a check; detail (a format) explains a failure.
func (c *checker) add(name string, ok bool, detail string, args ...any) bool {
	ch := Check{Name: name, OK: ok}
	if !ok {
		ch.Detail = fmt.Sprintf(detail, args...)
	}
	c.r.Checks = append(c.r.Checks, ch)
	return ok
}

func (c *checker) skip(name, detail string) {
	c.r.Checks = append(c.r.Checks, Check{Name: name, OK: true, Skipped: true, Detail: detail})
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown
// fields and trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// ParseEnvelope reads a DSSE envelope from outside input, strictly.
func ParseEnvelope(b []byte) (Envelope, error) {
	var env Envelope
	if len(b) > MaxEnvelope {
		return env, fmt.Errorf("envelope is larger than %d bytes", MaxEnvelope)
	}
	if err := decodeStrict(b, &env); err != nil {
		return env, err
	}
	if len(env.Payload) == 0 || len(env.Signatures) == 0 || len(env.Signatures) > 8 {
		return env, errors.New("envelope needs a payload and 1 to 8 signatures")
	}
	return env, nil
}

// ParseManifest reads a manifest payload strictly.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := decodeStrict(b, &m); err != nil {
		return m, err
	}
	if m.Type != ManifestType {
		return m, fmt.Errorf("_type is %q, want %q", m.Type, ManifestType)
	}
	if m.Release.IsZero() || m.Workspace.IsZero() {
		return m, errors.New("manifest needs a release and a workspace")
	}
	return m, nil
}

// Verify checks an envelope, reporting every check by name.
func Verify(raw []byte, o Options) Result {
	var c checker
	env, err := ParseEnvelope(raw)
	if !c.add("envelope", err == nil, "%s", errDetail(err)) {
		return c.r
	}
	if !c.add("payload_type", env.PayloadType == PayloadType, "payloadType is %q", env.PayloadType) {
		return c.r
	}
	m, err := ParseManifest(env.Payload)
	if !c.add("manifest", err == nil, "%s", errDetail(err)) {
		return c.r
	}
	c.r.Release, c.r.Manifest = m.Release.String(), &m
	pae := PAE(env.PayloadType, env.Payload)

	var ed, hm *Signature
	for i := range env.Signatures {
		s := &env.Signatures[i]
		if strings.HasPrefix(s.KeyID, hmacPrefix) {
			if hm == nil {
				hm = s
			}
		} else if ed == nil {
			ed = s
		}
	}
	edOK := c.ed25519(ed, o.Keys, pae, &m)
	c.hmac(hm, o.HMACMaster, pae, &m)
	c.shots(&m, o.Keys)
	if o.FilesDir != "" {
		c.files(&m, o.FilesDir)
	}
	c.r.Valid = edOK
	for _, ch := range c.r.Checks {
		if !ch.OK {
			c.r.Valid = false
		}
	}
	return c.r
}

func errDetail(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (c *checker) ed25519(s *Signature, keys keyring.Set, pae []byte, m *Manifest) bool {
	if !c.add("ed25519.present", s != nil, "no Ed25519 signature") {
		return false
	}
	k, ok := keys.Lookup(s.KeyID)
	if !c.add("ed25519.keyid", ok, "keyid %q", s.KeyID) {
		return false
	}
	valid := ed25519.Verify(k.Key, pae, s.Sig)
	c.add("ed25519.signature", valid, "keyid %q: signature does not match the payload", s.KeyID)
	c.add("ed25519.validity", k.ValidAt(m.PublishedAt), "key %q in service from %s; published %s", k.ID, k.NotBefore.Format("2006-01-02T15:04:05Z07:00"), m.PublishedAt.Format("2006-01-02T15:04:05Z07:00"))
	return valid
}

func (c *checker) hmac(s *Signature, master func(string) ([]byte, error), pae []byte, m *Manifest) {
	if master == nil {
		c.skip("hmac.signature", "the per-workspace HMAC secret is known only to the service")
		return
	}
	if !c.add("hmac.present", s != nil, "no HMAC-SHA256 signature") {
		return
	}
	mid, ws, ok := parseHMACKeyID(s.KeyID)
	if !c.add("hmac.keyid", ok && ws == m.Workspace, "keyid %q must name the manifest's workspace %s", s.KeyID, m.Workspace) {
		return
	}
	secret, err := master(mid)
	if !c.add("hmac.key", err == nil, "master key %q: %s", mid, errDetail(err)) {
		return
	}
	want := hmacSum(WorkspaceSecret(secret, m.Workspace), pae)
	c.add("hmac.signature", hmac.Equal(want, s.Sig), "keyid %q: not this workspace's HMAC of the payload", s.KeyID)
}

func (c *checker) shots(m *Manifest, keys keyring.Set) {
	for i, s := range m.Shots {
		name := fmt.Sprintf("shot[%d].signature", i+1)
		if !c.add(fmt.Sprintf("shot[%d].position", i+1), s.Position == i+1, "entry %d claims position %d", i+1, s.Position) {
			continue
		}
		k, ok := keys.Lookup(s.Signature.KeyID)
		if !ok {
			c.add(name, false, "unknown keyid %q", s.Signature.KeyID)
			continue
		}
		msg, err := shotMessage(m, s)
		c.add(name, err == nil && ed25519.Verify(k.Key, msg, s.Signature.Sig), "shot %s: signature does not cover this entry at this position of this release", s.Shot)
	}
}

// files checks each output against a file in dir named by its filename.
func (c *checker) files(m *Manifest, dir string) {
	for _, s := range m.Shots {
		for _, out := range s.Outputs {
			name := "file:" + out.Filename
			if out.Filename == "" || out.Filename != filepath.Base(out.Filename) || out.Filename == "." || out.Filename == ".." {
				c.add(name, false, "unsafe file name")
				continue
			}
			got, err := fileSHA256(filepath.Join(dir, out.Filename))
			if !c.add(name, err == nil && got == out.SHA256, "want sha256 %s, got %s%s", out.SHA256, got, errSuffix(err)) {
				continue
			}
		}
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
