package asset_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/asset"
	"github.com/framebroker/framebroker/shared/blob"
)

const partSize = blob.MinPart

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// partURLs asks for presigned part URLs.
func partURLs(t *testing.T, e *apptest.Env, tok, base string, data []byte, numbers ...int) asset.PartURLs {
	t.Helper()
	var req struct {
		Parts []map[string]any `json:"parts"`
	}
	for _, n := range numbers {
		lo := (n - 1) * partSize
		req.Parts = append(req.Parts, map[string]any{"number": n, "sha256": hexSum(data[lo:min(lo+partSize, len(data))])})
	}
	var out asset.PartURLs
	if err := json.Unmarshal(e.Must(200, "POST", base+"/parts", tok, req).Body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func listParts(t *testing.T, e *apptest.Env, tok, base string) asset.Parts {
	t.Helper()
	var out asset.Parts
	if err := json.Unmarshal(e.Must(200, "GET", base+"/parts", tok, nil).Body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMultipartUpload: create → part URLs (batched) → upload some parts →
// list (resume) → complete refuses while parts are missing → the rest →
// complete (composite checksum, verifying) → the asset-verify cron computes
// the whole-object SHA-256 over several resumed runs → complete, asset.ready
// in the ledger, and the download hashes to the declared SHA-256.
func TestMultipartUpload(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	data := make([]byte, 2*partSize+12345)
	rand.Read(data)
	body := apptest.AssetBody("master.mxf", "application/mxf", data)
	body["part_size"] = partSize
	created := decode(t, e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, body))
	if created.Multipart == nil || created.Multipart.PartCount != 3 || created.Multipart.PartSize != partSize || created.UploadURL != "" {
		t.Fatalf("created: %+v", created)
	}
	base := "/v1/workspaces/" + ws + "/assets/" + created.ID.String()
	// A part number outside the layout, a malformed checksum.
	e.Must(400, "POST", base+"/parts", tok, map[string]any{"parts": []map[string]any{{"number": 4, "sha256": hexSum(nil)}}})
	e.Must(400, "POST", base+"/parts", tok, map[string]any{"parts": []map[string]any{{"number": 1, "sha256": "xyz"}}})

	urls := partURLs(t, e, tok, base, data, 1, 3)
	if len(urls.Parts) != 2 || urls.Parts[1].Size != 12345 {
		t.Fatalf("part urls: %+v", urls)
	}
	wrong := make([]byte, partSize)
	if code := send(t, urls.Parts[0].URL, urls.Parts[0].Headers, wrong); code != 400 {
		t.Fatalf("part 1 with other bytes: %d, want 400", code)
	}
	for _, p := range urls.Parts {
		lo := int(p.Number-1) * partSize
		if code := send(t, p.URL, p.Headers, data[lo:lo+int(p.Size)]); code != 200 {
			t.Fatalf("part %d: %d", p.Number, code)
		}
	}
	// Resume: the store lists parts 1 and 3.
	got := listParts(t, e, tok, base)
	if len(got.Parts) != 2 || got.Parts[0].Number != 1 || got.Parts[1].Number != 3 || got.Parts[0].SHA256 != hexSum(data[:partSize]) {
		t.Fatalf("listed parts: %+v", got)
	}
	if r := e.Do("POST", base+"/complete", tok, nil); r.Status != 409 || !strings.Contains(r.Str("detail"), "2") {
		t.Fatalf("complete with part 2 missing: %d %s", r.Status, r.Body)
	}
	p2 := partURLs(t, e, tok, base, data, 2).Parts[0]
	if code := send(t, p2.URL, p2.Headers, data[partSize:2*partSize]); code != 200 {
		t.Fatalf("part 2: %d", code)
	}
	done := decode(t, e.Must(200, "POST", base+"/complete", tok, nil))
	if done.Status != asset.Verifying || !strings.HasSuffix(done.Composite, "-3") || done.SHA256 != "" {
		t.Fatalf("complete: %+v", done)
	}
	if again := decode(t, e.Must(200, "POST", base+"/complete", tok, nil)); again.Composite != done.Composite {
		t.Fatalf("second complete: %+v", again)
	}
	if v := decode(t, e.Must(200, "GET", base, tok, nil)); v.DownloadURL != "" {
		t.Fatal("a verifying asset is downloadable")
	}
	// Verify in small steps: the hash state survives between runs.
	e.App.Assets.VerifyBudget = 1
	runs := 0
	for ; runs < 20; runs++ {
		res, err := e.App.Assets.Verify(t.Context())
		if err != nil || res.Failed > 0 {
			t.Fatalf("verify: %+v %v", res, err)
		}
		if res.Ready == 1 {
			break
		}
	}
	if runs < 2 {
		t.Fatalf("verified in %d run(s): the resume path was not exercised", runs+1)
	}
	ready := decode(t, e.Must(200, "GET", base, tok, nil))
	if ready.Status != asset.Complete || ready.SHA256 != hexSum(data) {
		t.Fatalf("after verify: %+v", ready)
	}
	if download(t, ready.DownloadURL) != sha256.Sum256(data) {
		t.Fatal("download differs")
	}
	ledger := string(e.Must(200, "GET", "/v1/workspaces/"+ws+"/ledger", tok, nil).Body)
	for _, typ := range []string{"asset.uploaded", "asset.completed", "asset.ready"} {
		if !strings.Contains(ledger, `"`+typ+`"`) {
			t.Fatalf("ledger has no %s: %s", typ, ledger)
		}
	}
}

// TestMultipartWrongDeclaredHash: parts that match their own checksums but
// not the declared whole-file SHA-256 are rejected by verification, and the
// object is deleted.
func TestMultipartWrongDeclaredHash(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	data := make([]byte, partSize+10)
	rand.Read(data)
	body := apptest.AssetBody("m.mxf", "application/mxf", data)
	body["part_size"], body["sha256"] = partSize, hexSum([]byte("something else"))
	created := decode(t, e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, body))
	base := "/v1/workspaces/" + ws + "/assets/" + created.ID.String()
	for _, p := range partURLs(t, e, tok, base, data, 1, 2).Parts {
		lo := int(p.Number-1) * partSize
		send(t, p.URL, p.Headers, data[lo:lo+int(p.Size)])
	}
	e.Must(200, "POST", base+"/complete", tok, nil)
	if res, err := e.App.Assets.Verify(t.Context()); err != nil || res.Rejected != 1 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	got := decode(t, e.Must(200, "GET", base, tok, nil))
	if got.Status != asset.Rejected || got.SHA256 != "" || got.DownloadURL != "" {
		t.Fatalf("after verify: %+v", got)
	}
	if _, err := e.App.Blob.Head(t.Context(), asset.ObjectKey(created.Workspace, created.ID)); err == nil {
		t.Fatal("the rejected object is still stored")
	}
}

// TestMultipartAbort: abort discards the upload and its parts; the asset is gone.
func TestMultipartAbort(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	data := make([]byte, partSize+1)
	body := apptest.AssetBody("m.mxf", "application/mxf", data)
	body["part_size"] = partSize
	created := decode(t, e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, body))
	base := "/v1/workspaces/" + ws + "/assets/" + created.ID.String()
	p := partURLs(t, e, tok, base, data, 1).Parts[0]
	send(t, p.URL, p.Headers, data[:partSize])
	e.Must(204, "POST", base+"/abort", tok, nil)
	e.Must(404, "GET", base+"/parts", tok, nil)
	ups, err := e.App.Blob.ListMultipart(t.Context(), "ws/"+ws+"/", created.CreatedAt.Add(24*3600e9))
	if err != nil || len(ups) != 0 {
		t.Fatalf("uploads left: %v %v", ups, err)
	}
	// The store refuses the part (it may reset the connection mid-body).
	req, _ := http.NewRequest("PUT", p.URL, bytes.NewReader(data[:partSize]))
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Fatalf("part URL after abort: %d, want refusal", res.StatusCode)
		}
	}
}
