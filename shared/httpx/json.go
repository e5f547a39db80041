// Package httpx holds the HTTP plumbing every handler shares: strict JSON
// decoding, JSON replies, request ids, request logging, panic recovery and
// cursor pagination.
package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/framebroker/framebroker/shared/problem"
)

// MaxBody is the largest JSON request body accepted.
const MaxBody = 1 << 20

// Decode reads exactly one JSON object from r's body into v: the one place
// request input is checked before any handler sees it. It refuses a content
// type other than application/json (415), bodies over MaxBody (413), and
// with 400 problem+json naming the field: unknown fields, trailing data,
// malformed JSON, bytes that are not UTF-8, the NUL character anywhere
// (Postgres cannot store it), duplicate keys, and keys that differ only in
// case from each other or from the field they would fill (see strict).
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	const op = "httpx.Decode"
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return problem.E(op, problem.UnsupportedMedia, "Content-Type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(op, err)
		}
		return &problem.Error{Op: op, Kind: problem.Invalid, Detail: "request body could not be read", Err: err}
	}
	return DecodeBytes(op, body, v)
}

// DecodeBytes is Decode for a body already read: the same checks, the same
// refusals, reported under op.
func DecodeBytes(op string, body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// A field the strict checks refuse (a NUL inside an id, say) is
		// named as such rather than as the type error it also causes.
		if serr := strict(op, body, reflect.TypeOf(v)); serr != nil && problem.Is(serr, problem.Invalid) && len(problemFields(serr)) > 0 {
			return serr
		}
		return decodeError(op, err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return problem.E(op, problem.Invalid, "request body must hold a single JSON object")
	}
	return strict(op, body, reflect.TypeOf(v))
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

// problemFields is the per-field detail of a problem, if any.
func problemFields(err error) []problem.FieldError {
	var e *problem.Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
