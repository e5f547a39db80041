package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/framebroker/framebroker/shared/problem"
)

type ctxKey int

const requestIDKey ctxKey = 0

// RequestID is the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// WithRequestID returns ctx carrying request id rid.
func WithRequestID(ctx context.Context, rid string) context.Context {
	return context.WithValue(ctx, requestIDKey, rid)
}

func init() {
	problem.RequestIDFunc = func(r *http.Request) string { return RequestID(r.Context()) }
}

// validRequestID accepts a caller-supplied X-Request-Id only when it is short
// and plain, so it cannot inject into logs.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Middleware gives every request an id (X-Request-Id, echoed back), logs one
// line per request with method, route pattern, status and duration (never the
// query string or headers, which may carry tokens), and turns a panic into a
// 500 problem without a stack trace in the reply.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get("X-Request-Id")
		if !validRequestID(rid) {
			rid = newRequestID()
		}
		r = r.WithContext(WithRequestID(r.Context(), rid))
		w.Header().Set("X-Request-Id", rid)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				slog.ErrorContext(r.Context(), "panic", "panic", v, "stack", string(debug.Stack()))
				if sw.status == 0 {
					problem.Write(sw, r, problem.Errorf("httpx.Middleware", "panic"))
				}
			}
			slog.InfoContext(r.Context(), "request",
				"method", r.Method, "route", r.Pattern, "status", sw.status,
				"duration_ms", float64(time.Since(start).Microseconds())/1000)
		}()
		next.ServeHTTP(sw, r)
	})
}

// LogHandler wraps a slog.Handler so every record logged with a request's
// context carries its request_id.
type LogHandler struct{ slog.Handler }

// Handle adds request_id from ctx.
func (h LogHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rid := RequestID(ctx); rid != "" {
		rec.AddAttrs(slog.String("request_id", rid))
	}
	return h.Handler.Handle(ctx, rec)
}

// WithAttrs keeps the wrapper.
func (h LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(as)}
}

// WithGroup keeps the wrapper.
func (h LogHandler) WithGroup(name string) slog.Handler {
	return LogHandler{h.Handler.WithGroup(name)}
}
