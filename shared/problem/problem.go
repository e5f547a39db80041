// Package problem is Framebroker's error type and its one mapping to HTTP:
// application/problem+json (RFC 9457). An Error carries the operation that
// failed and a Kind; the Kind alone decides the status, so handlers never
// choose status codes by hand. The stable `type` URI is the Kind's, unless
// the error is a Refusal (refusal.go): a specific reason with its own type.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Kind classifies an error for callers and for HTTP.
type Kind uint8

// The kinds. Internal is the zero value: an error nobody classified is a 500
// whose detail is never shown.
const (
	Internal         Kind = iota
	Invalid               // 400: the request is malformed or a field is wrong
	Unauthenticated       // 401: no or bad credentials
	PaymentRequired       // 402: a spend ceiling or missing credits
	Forbidden             // 403: authenticated, a member, but the role is too low
	NotFound              // 404: missing, or belongs to another workspace
	MethodNotAllowed      // 405
	Conflict              // 409: state forbids it (duplicate, already published…)
	TooLarge              // 413: body over the limit
	UnsupportedMedia      // 415: not application/json
	Unprocessable         // 422: well-formed but refers to things that cannot be used
	RateLimited           // 429
	Unavailable           // 503: a dependency is down
)

type kindInfo struct {
	status int
	slug   string
	title  string
}

var kinds = map[Kind]kindInfo{
	Internal:         {http.StatusInternalServerError, "internal", "Internal error"},
	Invalid:          {http.StatusBadRequest, "invalid-request", "Invalid request"},
	Unauthenticated:  {http.StatusUnauthorized, "unauthenticated", "Authentication required"},
	PaymentRequired:  {http.StatusPaymentRequired, "payment-required", "Payment required"},
	Forbidden:        {http.StatusForbidden, "forbidden", "Forbidden"},
	NotFound:         {http.StatusNotFound, "not-found", "Not found"},
	MethodNotAllowed: {http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"},
	Conflict:         {http.StatusConflict, "conflict", "Conflict"},
	TooLarge:         {http.StatusRequestEntityTooLarge, "too-large", "Request body too large"},
	UnsupportedMedia: {http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type"},
	Unprocessable:    {http.StatusUnprocessableEntity, "unprocessable", "Unprocessable request"},
	RateLimited:      {http.StatusTooManyRequests, "rate-limited", "Too many requests"},
	Unavailable:      {http.StatusServiceUnavailable, "unavailable", "Service unavailable"},
}

// TypeBase prefixes every problem `type`; the slug after it is stable API.
const TypeBase = "https://framebroker.dev/problems/"

// Status is the HTTP status of kind k.
func (k Kind) Status() int { return kinds[k].status }

// Type is the stable problem `type` URI of kind k.
func (k Kind) Type() string { return TypeBase + kinds[k].slug }

func (k Kind) String() string { return kinds[k].slug }

// FieldError names one invalid field of a request body.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error is a classified error. Detail is shown to the client (never for
// Internal); Err is the cause, logged but never shown.
type Error struct {
	Op         string        // the operation, e.g. "tenancy.CreateProject"
	Kind       Kind          // how to answer
	Detail     string        // safe, human text for the client
	Fields     []FieldError  // per-field problems, for Invalid
	RetryAfter time.Duration // for RateLimited / Unavailable
	Refusal    string        // slug of a Refusal, when the error is one
	Err        error         // the underlying cause
}

// E builds an Error with a client-facing detail.
func E(op string, kind Kind, detail string) *Error {
	return &Error{Op: op, Kind: kind, Detail: detail}
}

// Wrap classifies err under op. If err already carries a Kind, that Kind is
// kept unless kind is not Internal.
func Wrap(op string, kind Kind, err error) *Error {
	if kind == Internal {
		kind = KindOf(err)
	}
	return &Error{Op: op, Kind: kind, Err: err}
}

// Field builds an Invalid error for one field.
func Field(op, field, detail string) *Error {
	return &Error{Op: op, Kind: Invalid, Detail: field + ": " + detail, Fields: []FieldError{{field, detail}}}
}

func (e *Error) Error() string {
	s := e.Op + ": " + e.Kind.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf is the Kind of the outermost classified error in err's chain, or
// Internal.
func KindOf(err error) Kind {
	var e *Error
	for errors.As(err, &e) {
		if e.Kind != Internal {
			return e.Kind
		}
		err = e.Err
	}
	return Internal
}

// Is reports whether err is classified as kind.
func Is(err error, kind Kind) bool { return KindOf(err) == kind }

// Body is the problem+json document.
type Body struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
}

// RequestIDFunc extracts the request id from a request; set by the HTTP
// layer so this package needs no knowledge of it.
var RequestIDFunc = func(*http.Request) string { return "" }

// Write answers r with err as problem+json and logs it: every 5xx once at
// error level with its cause (the log handler adds the request id), client
// errors at debug level.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	kind := KindOf(err)
	info := kinds[kind]
	typ, title := kind.Type(), info.title
	if f, ok := refusals[refusalOf(err)]; ok && f.Kind == kind {
		typ, title = f.Type(), f.Title
	}
	body := Body{
		Type:      typ,
		Title:     title,
		Status:    info.status,
		Instance:  r.URL.Path,
		RequestID: RequestIDFunc(r),
	}
	if kind != Internal {
		body.Detail, body.Errors = firstDetail(err)
	}
	Log(r, err)
	if d := retryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(info.status)
	_ = json.NewEncoder(w).Encode(body)
}

// Log records err for request r as Write does, for a handler that answers
// a refusal some other way (a redirect to a page): every 5xx once at error
// level with its cause (the log handler adds the request id), client errors
// at debug level.
func Log(r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Kind: Internal, Err: err}
	}
	kind := KindOf(err)
	if status := kinds[kind].status; status >= 500 {
		// Every 5xx (a bug, or a dependency down: 503) leaves exactly this
		// one line with its cause; the client sees only the request id.
		slog.ErrorContext(r.Context(), "request failed", "status", status, "kind", kind.String(), "op", e.Op, "err", err.Error())
	} else {
		slog.DebugContext(r.Context(), "request refused", "kind", kind.String(), "err", err.Error())
	}
}

func firstDetail(err error) (string, []FieldError) {
	var e *Error
	for errors.As(err, &e) {
		if e.Detail != "" {
			return e.Detail, e.Fields
		}
		err = e.Err
	}
	return "", nil
}

// refusalOf is the slug of the outermost Refusal in err's chain, or "".
func refusalOf(err error) string {
	var e *Error
	for errors.As(err, &e) {
		if e.Refusal != "" {
			return e.Refusal
		}
		err = e.Err
	}
	return ""
}

func retryAfter(err error) time.Duration {
	var e *Error
	for errors.As(err, &e) {
		if e.RetryAfter > 0 {
			return e.RetryAfter
		}
		err = e.Err
	}
	return 0
}

// Errorf is fmt.Errorf for internal errors with an op, for symmetry.
func Errorf(op, format string, args ...any) *Error {
	return &Error{Op: op, Kind: Internal, Err: fmt.Errorf(format, args...)}
}
