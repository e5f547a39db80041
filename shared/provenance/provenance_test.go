package provenance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/ledger"
	"github.com/framebroker/framebroker/shared/provenance"
)

// world is a workspace with a published two-shot release.
type world struct {
	e        *apptest.Env
	tok, ws  string
	rel      string
	envelope []byte
	files    map[string][]byte
	keys     keyring.Set
}

func uploadAsset(t *testing.T, e *apptest.Env, tok, ws, name string, body []byte) string {
	t.Helper()
	return e.UploadAsset(tok, ws, name, "application/octet-stream", body)
}

func publishWorld(t *testing.T, e *apptest.Env, email string) *world {
	t.Helper()
	w := &world{e: e, files: map[string][]byte{}}
	w.tok, _ = e.User(email)
	w.ws = e.Workspace(w.tok, "Studio "+email)
	prj := e.Must(201, "POST", "/v1/workspaces/"+w.ws+"/projects", w.tok, map[string]string{"name": "P"}).Str("id")
	var shots []string
	for i, name := range []string{"sh010", "sh020"} {
		shot := e.Must(201, "POST", "/v1/workspaces/"+w.ws+"/projects/"+prj+"/shots", w.tok, map[string]string{"name": name}).Str("id")
		file := name + "-" + email + ".mov"
		body := bytes.Repeat([]byte{byte('a' + i)}, 1000+i)
		ast := uploadAsset(t, e, w.tok, w.ws, file, body)
		w.files[file] = body
		e.Must(201, "POST", "/v1/workspaces/"+w.ws+"/shots/"+shot+"/outputs", w.tok, map[string]string{"asset": ast})
		shots = append(shots, shot)
	}
	w.rel = e.Must(201, "POST", "/v1/workspaces/"+w.ws+"/releases", w.tok, map[string]any{"name": "R", "shots": shots}).Str("id")
	e.Must(200, "POST", "/v1/workspaces/"+w.ws+"/releases/"+w.rel+"/publish", w.tok, nil)
	w.envelope = e.Must(200, "GET", "/v1/provenance/"+w.rel, "", nil).Body
	if err := json.Unmarshal(e.Must(200, "GET", "/v1/provenance/keys", "", nil).Body, &w.keys); err != nil {
		t.Fatal(err)
	}
	return w
}

func verifyAPI(t *testing.T, e *apptest.Env, env []byte) provenance.Result {
	t.Helper()
	var res provenance.Result
	if err := json.Unmarshal(e.Must(200, "POST", "/v1/provenance/verify", "", string(env)).Body, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func failed(res provenance.Result) map[string]bool {
	out := map[string]bool{}
	for _, c := range res.Checks {
		if !c.OK {
			out[c.Name] = true
		}
	}
	return out
}

// TestPublish: publishing flips the release, stores the envelope, appends
// release.published after the head the manifest names, and the envelope
// verifies online (HMAC and stored copy too) and offline (files included).
func TestPublish(t *testing.T) {
	t.Setenv(keyring.EnvDir, t.TempDir())
	e := apptest.New(t)
	w := publishWorld(t, e, "pub@example.com")

	if st := e.Must(200, "GET", "/v1/workspaces/"+w.ws+"/releases/"+w.rel, w.tok, nil).Str("status"); st != "published" {
		t.Fatalf("status %q", st)
	}
	e.Must(409, "POST", "/v1/workspaces/"+w.ws+"/releases/"+w.rel+"/publish", w.tok, nil)
	e.Must(409, "PATCH", "/v1/workspaces/"+w.ws+"/releases/"+w.rel, w.tok, map[string]string{"name": "x"})

	res := verifyAPI(t, e, w.envelope)
	if !res.Valid {
		t.Fatalf("online verify: %+v", res.Checks)
	}
	for _, want := range []string{"hmac.signature", "ed25519.signature", "stored", "shot[2].signature"} {
		found := false
		for _, c := range res.Checks {
			found = found || (c.Name == want && c.OK && !c.Skipped)
		}
		if !found {
			t.Errorf("check %s not passed: %+v", want, res.Checks)
		}
	}
	dir := t.TempDir()
	for n, b := range w.files {
		_ = os.WriteFile(filepath.Join(dir, n), b, 0o600)
	}
	off := provenance.Verify(w.envelope, provenance.Options{Keys: w.keys, FilesDir: dir})
	if !off.Valid {
		t.Fatalf("offline: %+v", off.Checks)
	}
	m := off.Manifest
	if len(m.Shots) != 2 || len(m.Shots[0].Outputs) != 1 || m.Shots[0].Outputs[0].SHA256 == "" || m.Shots[0].Jobs == nil {
		t.Fatalf("canon snapshot: %+v", m.Shots)
	}
	// A file on disk that differs from the manifest.
	for n := range w.files {
		_ = os.WriteFile(filepath.Join(dir, n), []byte("tampered"), 0o600)
		if r := provenance.Verify(w.envelope, provenance.Options{Keys: w.keys, FilesDir: dir}); r.Valid || !failed(r)["file:"+n] {
			t.Fatalf("tampered file %s: %+v", n, r.Checks)
		}
		break
	}
	// The ledger: release.published follows the head the manifest names.
	var list ledger.EventList
	_ = json.Unmarshal(e.Must(200, "GET", "/v1/workspaces/"+w.ws+"/ledger?limit=200", w.tok, nil).Body, &list)
	last := list.Data[len(list.Data)-1]
	if last.Type != "release.published" || last.Seq != m.LedgerHead.Seq+1 || last.PrevHash != m.LedgerHead.Hash {
		t.Fatalf("last event %+v, manifest head %+v", last, m.LedgerHead)
	}
	types := map[string]bool{}
	for _, ev := range list.Data {
		types[ev.Type] = true
	}
	for _, want := range []string{"workspace.created", "project.created", "shot.created", "asset.created", "asset.completed", "shot.output_linked", "release.created"} {
		if !types[want] {
			t.Errorf("no %s event in the ledger", want)
		}
	}
	// The API verify and the offline CLI path over the export agree.
	var rep ledger.Report
	_ = json.Unmarshal(e.Must(200, "GET", "/v1/workspaces/"+w.ws+"/ledger/verify", w.tok, nil).Body, &rep)
	if !rep.Valid || rep.Head.Seq != last.Seq {
		t.Fatalf("ledger verify: %+v", rep)
	}
	exp := e.Must(200, "GET", "/v1/workspaces/"+w.ws+"/ledger/export", w.tok, nil).Body
	off2, _ := ledger.VerifyJSONL(bytes.NewReader(exp), &w.keys, true)
	if !off2.Valid || off2.Count != last.Seq || !off2.HeadSigned {
		t.Fatalf("export verify: %+v %+v", off2, off2.BrokenAt)
	}
	// Unknown and draft releases have no manifest.
	e.Must(404, "GET", "/v1/provenance/"+id.New[id.ReleaseID]().String(), "", nil)
	e.Must(404, "GET", "/v1/provenance/nonsense", "", nil)
}

func reseal(t *testing.T, env provenance.Envelope) []byte {
	t.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerifyRejects: each forgery is refused with a named check, by the
// public verify route and offline.
func TestVerifyRejects(t *testing.T) {
	t.Setenv(keyring.EnvDir, t.TempDir())
	e := apptest.New(t)
	a := publishWorld(t, e, "a@example.com")
	b := publishWorld(t, e, "b@example.com")
	envB, err := provenance.ParseEnvelope(b.envelope)
	if err != nil {
		t.Fatal(err)
	}
	hmacIdx := func(env provenance.Envelope) int {
		for i, s := range env.Signatures {
			if bytes.HasPrefix([]byte(s.KeyID), []byte("hmac-sha256:")) {
				return i
			}
		}
		t.Fatal("no hmac signature")
		return -1
	}
	clone := func() provenance.Envelope {
		var c provenance.Envelope
		_ = json.Unmarshal(a.envelope, &c)
		return c
	}
	for _, tc := range []struct {
		name    string
		forge   func() []byte
		online  string // the check that must fail on the public route
		offline string // and offline ("" = not detectable offline)
	}{
		{"one payload byte changed", func() []byte {
			c := clone()
			i := bytes.Index(c.Payload, []byte(`"name":"R"`))
			c.Payload[i+8] = 'S'
			return reseal(t, c)
		}, "ed25519.signature", "ed25519.signature"},
		{"one envelope byte changed (base64 of payload)", func() []byte {
			raw := bytes.Clone(a.envelope)
			i := bytes.Index(raw, []byte(`"payload":"`)) + len(`"payload":"`) + 40
			raw[i] ^= 0x01
			return raw
		}, "", ""},
		{"swapped shots", func() []byte {
			c := clone()
			m, _ := provenance.ParseManifest(c.Payload)
			m.Shots[0], m.Shots[1] = m.Shots[1], m.Shots[0]
			m.Shots[0].Position, m.Shots[1].Position = 1, 2
			c.Payload, _ = json.Marshal(m)
			return reseal(t, c)
		}, "shot[1].signature", "shot[1].signature"},
		{"shot taken from another release", func() []byte {
			c := clone()
			m, _ := provenance.ParseManifest(c.Payload)
			mb, _ := provenance.ParseManifest(envB.Payload)
			m.Shots[1] = mb.Shots[1]
			c.Payload, _ = json.Marshal(m)
			return reseal(t, c)
		}, "shot[2].signature", "shot[2].signature"},
		{"HMAC from another workspace's key", func() []byte {
			c := clone()
			c.Signatures[hmacIdx(c)] = envB.Signatures[hmacIdx(envB)]
			return reseal(t, c)
		}, "hmac.keyid", ""},
		{"HMAC by another workspace's secret under this keyid", func() []byte {
			c := clone()
			c.Signatures[hmacIdx(c)].Sig = envB.Signatures[hmacIdx(envB)].Sig
			return reseal(t, c)
		}, "hmac.signature", ""},
		{"unknown HMAC master", func() []byte {
			c := clone()
			var ws id.WorkspaceID
			_ = ws.UnmarshalText([]byte(a.ws))
			c.Signatures[hmacIdx(c)].KeyID = provenance.HMACKeyID("hmac-nope", ws)
			return reseal(t, c)
		}, "hmac.key", ""},
		{"unknown Ed25519 keyid", func() []byte {
			c := clone()
			c.Signatures[1-hmacIdx(c)].KeyID = "ed25519-00000000000000000000000000000000"
			return reseal(t, c)
		}, "ed25519.keyid", "ed25519.keyid"},
		{"Ed25519 signature by another key", func() []byte {
			c := clone()
			other := keyring.NewDir(t.TempDir())
			s, _ := other.Signer(context.Background())
			c.Signatures[1-hmacIdx(c)] = provenance.Signature{KeyID: s.ID, Sig: s.Sign(provenance.PAE(c.PayloadType, c.Payload))}
			return reseal(t, c)
		}, "ed25519.keyid", "ed25519.keyid"},
		{"another release's envelope under this release's manifest id", func() []byte {
			c := clone()
			c.Signatures = envB.Signatures
			return reseal(t, c)
		}, "ed25519.signature", "ed25519.signature"},
		{"wrong payload type", func() []byte {
			c := clone()
			c.PayloadType = "application/json"
			return reseal(t, c)
		}, "payload_type", "payload_type"},
		{"not an envelope", func() []byte { return []byte(`{"payload":"e30=","signatures":[],"x":1}`) }, "envelope", "envelope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forged := tc.forge()
			res := verifyAPI(t, e, forged)
			if res.Valid {
				t.Fatalf("online: forgery accepted: %+v", res.Checks)
			}
			if tc.online != "" && !failed(res)[tc.online] {
				t.Fatalf("online: check %s did not fail: %+v", tc.online, res.Checks)
			}
			off := provenance.Verify(forged, provenance.Options{Keys: a.keys})
			if tc.offline != "" && (off.Valid || !failed(off)[tc.offline]) {
				t.Fatalf("offline: check %s did not fail: %+v", tc.offline, off.Checks)
			}
		})
	}
}

// TestKeyRotation: after a rotation the old key stays published with a
// validity window, old manifests still verify, new ones use the new key.
func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(keyring.EnvDir, dir)
	e := apptest.New(t)
	a := publishWorld(t, e, "rot@example.com")
	if err := keyring.NewDir(dir).Rotate(time.Now()); err != nil {
		t.Fatal(err)
	}
	var keys keyring.Set
	_ = json.Unmarshal(e.Must(200, "GET", "/v1/provenance/keys", "", nil).Body, &keys)
	if len(keys.Keys) != 2 || keys.Keys[0].NotAfter == nil || keys.Keys[1].NotAfter != nil {
		t.Fatalf("keys after rotation: %+v", keys)
	}
	if res := verifyAPI(t, e, a.envelope); !res.Valid {
		t.Fatalf("old manifest after rotation: %+v", res.Checks)
	}
	if res := provenance.Verify(a.envelope, provenance.Options{Keys: keys}); !res.Valid {
		t.Fatalf("offline after rotation: %+v", res.Checks)
	}
}
