// Package httpx holds the HTTP plumbing every handler shares: strict JSON
// decoding, JSON replies, request ids, request logging, panic recovery and
// cursor pagination.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/framebroker/framebroker/shared/problem"
)

// MaxBody is the largest JSON request body accepted.
const MaxBody = 1 << 20

// Decode reads exactly one JSON object from r's body into v. It refuses a
// content type other than application/json (415), bodies over MaxBody (413),
// unknown fields, trailing data and malformed JSON (400).
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	const op = "httpx.Decode"
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return problem.E(op, problem.UnsupportedMedia, "Content-Type must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(op, err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(op, err)
		}
		return problem.E(op, problem.Invalid, "request body must hold a single JSON object")
	}
	return nil
}

func decodeError(op string, err error) error {
	var (
		mbe    *http.MaxBytesError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return problem.E(op, problem.TooLarge, fmt.Sprintf("request body exceeds %d bytes", MaxBody))
	case errors.Is(err, io.EOF):
		return problem.E(op, problem.Invalid, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problem.E(op, problem.Invalid, "request body is truncated JSON")
	case errors.As(err, &syntax):
		return problem.E(op, problem.Invalid, fmt.Sprintf("malformed JSON at byte %d", syntax.Offset))
	case errors.As(err, &typ):
		if typ.Field != "" {
			return problem.Field(op, typ.Field, "must be a JSON "+typ.Type.Kind().String())
		}
		return problem.E(op, problem.Invalid, "request body must be a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return problem.Field(op, field, "unknown field")
	default:
		// Text unmarshalers (ids, enums) report their own errors; they carry
		// no secrets, so they are safe to show.
		return problem.E(op, problem.Invalid, "invalid request body: "+err.Error())
	}
}

// JSON writes v as a JSON reply with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
