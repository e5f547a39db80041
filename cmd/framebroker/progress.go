package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// progressHandler prints log records as short lines for a person watching a
// terminal: "[  1.23s] postgres ready port=54329".
type progressHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	begun time.Time
	attrs []slog.Attr
}

// newProgressLogger logs to w, timing lines from now.
func newProgressLogger(w io.Writer) *slog.Logger {
	return slog.New(&progressHandler{mu: new(sync.Mutex), w: w, begun: time.Now()})
}

func (h *progressHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *progressHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "[%6.2fs] ", time.Since(h.begun).Seconds())
	if r.Level >= slog.LevelWarn {
		b.WriteString(r.Level.String() + ": ")
	}
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		if a.Key != "elapsed" { // the line's prefix already says it
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *progressHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

// WithGroup flattens groups: progress lines have no nesting.
func (h *progressHandler) WithGroup(string) slog.Handler { return h }
