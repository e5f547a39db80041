package apptest

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/framebroker/framebroker/shared/openapi"
)

// validating serves next and checks every exchange against the API
// document: a reply (or an accepted request) that disagrees with it fails
// t, naming the route. This runs for every test that uses New, so the
// document cannot drift from the code.
func validating(t testing.TB, doc openapi.Document, next http.Handler) http.Handler {
	v, err := openapi.NewValidator(doc)
	if err != nil {
		t.Fatalf("openapi validator: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqBody []byte
		if r.Body != nil {
			reqBody, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		for _, e := range v.Check(openapi.Exchange{Request: r, RequestBody: reqBody, Status: rec.status, Header: w.Header(), Body: rec.body.Bytes()}) {
			t.Errorf("openapi: %s", e)
		}
	})
}

// recorder passes a reply through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// Flush keeps streaming replies streaming.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
