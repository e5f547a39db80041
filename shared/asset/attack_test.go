package asset_test

import (
	"strings"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/media/mediatest"
	"github.com/framebroker/framebroker/shared/problem"
)

// TestCompleteRefusesReferences: each hostile file of the corpus, uploaded
// as video/mp4 (and as application/octet-stream), is refused by complete
// with a 422 problem naming the detected format, the asset stays pending,
// and the loopback listener the file points at receives nothing.
func TestCompleteRefusesReferences(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("ed@example.com")
	ws := e.Workspace(tok, "W")
	l := mediatest.NewListener(t)
	for _, a := range media.Attacks(l.URL) {
		for _, ct := range []string{"video/mp4", "application/octet-stream"} {
			t.Run(a.Name+" as "+ct, func(t *testing.T) {
				id := uploadOnly(t, e, tok, ws, "x.mp4", ct, a.Body)
				r := e.Do("POST", "/v1/workspaces/"+ws+"/assets/"+id+"/complete", tok, nil)
				if r.Status != 422 || r.Header.Get("Content-Type") != "application/problem+json" || r.Str("type") != problem.MediaRefused.Type() {
					t.Fatalf("complete: %d %s, want 422 problem", r.Status, r.Body)
				}
				if d := r.Str("detail"); !strings.Contains(d, "detected format: "+a.Format) {
					t.Fatalf("detail %q does not name %s", d, a.Format)
				}
				if st := e.Must(200, "GET", "/v1/workspaces/"+ws+"/assets/"+id, tok, nil).Str("status"); st == "complete" {
					t.Fatal("refused asset is complete")
				}
			})
		}
	}
	l.RequireSilent(t)
}
