// Package provenance publishes releases with a signed manifest (T-07) and
// verifies manifests, online and offline.
//
// A manifest binds the release and workspace ids, the canon snapshot (each
// shot in release order with its output assets and their SHA-256, the jobs
// that produced them with their trail digests) and the workspace's ledger
// head at publication. Each shot entry carries its own Ed25519 signature over
// ShotDomain ‖ JCS({"release","shot","workspace"}), so a shot entry cannot be
// moved to another position or release. The manifest travels in a DSSE
// envelope (payloadType, base64 payload, signatures with keyid) signed twice
// over DSSE's PAE: Ed25519 with the deployment's current key (public keys,
// current and retired, at GET /v1/provenance/keys) and HMAC-SHA256 with a
// per-workspace secret derived from an HMAC master secret
// (WorkspaceSecret), which only the service can check.
package provenance

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/ledger"
)

// Identifiers of the formats.
const (
	PayloadType  = "application/vnd.framebroker.release-manifest+json"
	ManifestType = "https://framebroker.dev/provenance/release/v1"
	ShotDomain   = "framebroker-shot-v1\n"
	hmacPrefix   = "hmac-sha256:"
)

// Manifest is the signed statement of a published release.
type Manifest struct {
	Type        string         `json:"_type"`
	Release     id.ReleaseID   `json:"release"`
	Workspace   id.WorkspaceID `json:"workspace"`
	Name        string         `json:"name"`
	PublishedAt time.Time      `json:"published_at"`
	PublishedBy id.UserID      `json:"published_by"`
	LedgerHead  ledger.HeadRef `json:"ledger_head"` // the chain head just before the publish event
	Shots       []Shot         `json:"shots"`
}

// Shot is one shot of the canon snapshot.
type Shot struct {
	Position  int          `json:"position"` // 1-based, release order
	Shot      id.ShotID    `json:"shot"`
	Project   id.ProjectID `json:"project"`
	Name      string       `json:"name"`
	Outputs   []Output     `json:"outputs"`
	Jobs      []Job        `json:"jobs"` // empty until the encode pipeline records them
	Signature Signature    `json:"signature"`
}

// Output is a rendered file of a shot.
type Output struct {
	Asset       id.AssetID `json:"asset"`
	Filename    string     `json:"filename"`
	ContentType string     `json:"content_type"`
	Size        int64      `json:"size"`
	SHA256      string     `json:"sha256"`
	Job         string     `json:"job,omitempty"`
	// ContentCredentials is the SHA-256 of the C2PA manifest store embedded
	// in the file (as the job's trail recorded it), for encode outputs that
	// carry one.
	ContentCredentials string `json:"content_credentials_sha256,omitempty"`
}

// Job is a job that produced outputs, with the SHA-256 of its audit trail.
type Job struct {
	ID          string `json:"id"`
	TrailSHA256 string `json:"trail_sha256"`
}

// Signature is a DSSE signature (also used per shot).
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"` // base64 in JSON
}

// Envelope is a DSSE envelope.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     []byte      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// PAE is DSSE's pre-authentication encoding of a payload.
func PAE(payloadType string, payload []byte) []byte {
	var b strings.Builder
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return []byte(b.String())
}

// WorkspaceSecret derives ws's HMAC secret from an HMAC master secret.
func WorkspaceSecret(master []byte, ws id.WorkspaceID) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("framebroker/provenance/v1/workspace\x00" + ws.String()))
	return m.Sum(nil)
}

// HMACKeyID names the per-workspace secret derived from master key masterID.
func HMACKeyID(masterID string, ws id.WorkspaceID) string {
	return hmacPrefix + masterID + ":" + ws.String()
}

// parseHMACKeyID splits an HMAC key id.
func parseHMACKeyID(s string) (masterID string, ws id.WorkspaceID, ok bool) {
	rest, ok := strings.CutPrefix(s, hmacPrefix)
	if !ok {
		return "", ws, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", ws, false
	}
	if err := ws.UnmarshalText([]byte(rest[i+1:])); err != nil {
		return "", ws, false
	}
	return rest[:i], ws, true
}

func hmacSum(secret, msg []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(msg)
	return m.Sum(nil)
}

// shotMessage is what a shot's signature covers.
func shotMessage(m *Manifest, s Shot) ([]byte, error) {
	s.Signature = Signature{}
	type unsigned struct {
		Position int          `json:"position"`
		Shot     id.ShotID    `json:"shot"`
		Project  id.ProjectID `json:"project"`
		Name     string       `json:"name"`
		Outputs  []Output     `json:"outputs"`
		Jobs     []Job        `json:"jobs"`
	}
	b, err := json.Marshal(struct {
		Release   id.ReleaseID   `json:"release"`
		Shot      unsigned       `json:"shot"`
		Workspace id.WorkspaceID `json:"workspace"`
	}{m.Release, unsigned{s.Position, s.Shot, s.Project, s.Name, s.Outputs, s.Jobs}, m.Workspace})
	if err != nil {
		return nil, err
	}
	c, err := jcs.Transform(b)
	if err != nil {
		return nil, err
	}
	return append([]byte(ShotDomain), c...), nil
}

// Seal signs m's shots, then m, into a DSSE envelope, returning it and its
// canonical payload. A zero PublishedAt is set to the time of signing.
func Seal(ctx context.Context, keys keyring.Provider, m Manifest) (Envelope, []byte, error) {
	signer, err := keys.Signer(ctx)
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("provenance: seal: %w", err)
	}
	hid, master, err := keys.HMAC(ctx, "")
	if err != nil {
		return Envelope{}, nil, fmt.Errorf("provenance: seal: %w", err)
	}
	if m.PublishedAt.IsZero() {
		// After fetching the key, so the time lies in its validity window.
		m.PublishedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	for i := range m.Shots {
		msg, err := shotMessage(&m, m.Shots[i])
		if err != nil {
			return Envelope{}, nil, err
		}
		m.Shots[i].Signature = Signature{KeyID: signer.ID, Sig: signer.Sign(msg)}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return Envelope{}, nil, err
	}
	payload, err := jcs.Transform(raw)
	if err != nil {
		return Envelope{}, nil, err
	}
	pae := PAE(PayloadType, payload)
	env := Envelope{PayloadType: PayloadType, Payload: payload, Signatures: []Signature{
		{KeyID: signer.ID, Sig: ed25519.Sign(signer.Key, pae)},
		{KeyID: HMACKeyID(hid, m.Workspace), Sig: hmacSum(WorkspaceSecret(master, m.Workspace), pae)},
	}}
	return env, payload, nil
}
