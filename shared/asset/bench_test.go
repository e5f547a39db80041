package asset_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/blob"
)

// zeros is an endless reader of zero bytes: generated data, nothing held in
// memory.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// BenchmarkComplete measures POST …/complete of a stored single-PUT upload
// of 2 MiB and of 2 GiB (generated zero bytes). complete reads the store's
// verified checksum and the first 4 KiB, and probes within its budget; it
// never streams the object, so the two should take about as long (the
// README's figure is the ratio 2 GiB / 2 MiB). Each iteration puts the
// asset back to pending (timer stopped) and completes it again.
func BenchmarkComplete(b *testing.B) {
	for _, c := range []struct {
		name string
		size int64
	}{{"2MiB", 2 << 20}, {"2GiB", 2 << 30}} {
		b.Run(c.name, func(b *testing.B) {
			e := apptest.New(b)
			tok, _ := e.User("bench@example.com")
			ws := e.Workspace(tok, "W")
			h := sha256.New()
			io.Copy(h, io.LimitReader(zeros{}, c.size))
			body := map[string]any{"filename": "z.bin", "content_type": "video/mp4", "size": c.size, "sha256": hex.EncodeToString(h.Sum(nil))}
			created := e.Must(201, "POST", "/v1/workspaces/"+ws+"/assets", tok, body)
			var up struct {
				URL     string            `json:"upload_url"`
				Headers map[string]string `json:"upload_headers"`
			}
			up.URL, up.Headers = created.Str("upload_url"), map[string]string{}
			for k, v := range created.JSON()["upload_headers"].(map[string]any) {
				up.Headers[k] = v.(string)
			}
			p := blob.Presigned{Method: "PUT", URL: up.URL, Headers: up.Headers}
			req, _ := http.NewRequest(p.Method, p.URL, io.LimitReader(zeros{}, c.size))
			req.ContentLength = c.size
			for k, v := range p.Headers {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil || res.StatusCode != 200 {
				b.Fatalf("upload: %v %v", err, res)
			}
			res.Body.Close()
			id := created.Str("id")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if _, err := e.DB.Owner.Exec(b.Context(), `UPDATE assets SET status = 'pending', sha256 = NULL, completed_at = NULL WHERE object_key LIKE '%' || $1`, id); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				e.Must(200, "POST", "/v1/workspaces/"+ws+"/assets/"+id+"/complete", tok, nil)
			}
		})
	}
}
