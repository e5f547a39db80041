// Package probefn runs ffprobe in its own Lambda function and lets other
// functions call it as a media prober.
//
// Debian's ffprobe with every library it loads is ~240 MiB unzipped, which
// leaves no room beside a function under Lambda's 250 MiB limit for a zip
// function and its layers. So ffprobe runs in the "probe" function, a
// container-image Lambda (10 GB limit) from the worker image
// (ffmpeg-layer/artifacts), whose bootstrap serves Handler. The assets and
// pipeline functions probe through Client, which invokes it. The probe
// function holds no secrets and no data permissions and runs outside the
// VPC: hostile media is parsed where a compromised ffprobe can read nothing
// but the one presigned object it was given.
//
// The protocol is one JSON request and one JSON reply per probe. Outcomes
// the caller acts on (refused format, unreadable media) are replies, not
// function errors, so they survive the Lambda boundary with their meaning;
// a function error means the probe did not run (timeout, crash).
package probefn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/framebroker/framebroker/shared/media"
)

// Request asks for one probe: a presigned http(s) URL and the declared
// content type (the format allow-list is derived from it).
type Request struct {
	Input       string `json:"input"`
	ContentType string `json:"content_type"`
	// TimeoutMS bounds the probe (ffprobe's process timeout); 0 or more
	// than MaxTimeout means MaxTimeout. The caller sends what is left of
	// its own deadline.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// Reply is the probe's outcome: exactly one of Probe (ffprobe's format and
// streams, JSON), Refused (the format ffprobe or the sniffer detected,
// which is not accepted for the content type) or Unreadable.
type Reply struct {
	Probe      json.RawMessage `json:"probe,omitempty"`
	Refused    string          `json:"refused,omitempty"`
	Unreadable bool            `json:"unreadable,omitempty"`
}

// MaxTimeout is the longest probe the function runs (media.FFprobe's
// default); the function's own timeout is above it.
const MaxTimeout = 60 * time.Second

// Prober is what Handler runs (media.FFprobe).
type Prober interface {
	Probe(ctx context.Context, input, contentType string) (json.RawMessage, error)
}

// Handler serves probe requests with p. Only http(s) URLs are probed: a
// local path would let a caller read the function's own files.
func Handler(p Prober) func(context.Context, Request) (Reply, error) {
	return func(ctx context.Context, r Request) (Reply, error) {
		u, err := url.Parse(r.Input)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Reply{}, errors.New("probefn: input must be an http(s) URL")
		}
		timeout := time.Duration(r.TimeoutMS) * time.Millisecond
		if timeout <= 0 || timeout > MaxTimeout {
			timeout = MaxTimeout
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		raw, err := p.Probe(ctx, r.Input, r.ContentType)
		var refused *media.RefusedError
		switch {
		case err == nil:
			return Reply{Probe: raw}, nil
		case errors.As(err, &refused):
			return Reply{Refused: refused.Format}, nil
		case errors.Is(err, media.ErrUnreadable):
			return Reply{Unreadable: true}, nil
		}
		return Reply{}, err
	}
}

// Invoker calls the probe function synchronously with payload and returns
// its reply payload, or an error when the function failed (invoke package:
// the Lambda API).
type Invoker interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Client is a media prober that runs each probe in the probe function.
type Client struct {
	Invoker Invoker
}

// Probe implements asset.Prober and pipeline's prober with the same
// outcomes as media.FFprobe: ffprobe's JSON, a *media.RefusedError, or
// media.ErrUnreadable.
func (c Client) Probe(ctx context.Context, input, contentType string) (json.RawMessage, error) {
	r := Request{Input: input, ContentType: contentType}
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		if left <= 0 {
			return nil, fmt.Errorf("probefn: %w", context.DeadlineExceeded)
		}
		r.TimeoutMS = max(left.Milliseconds(), 1)
	}
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	out, err := c.Invoker.Invoke(ctx, payload)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("probefn: %w", ctx.Err())
		}
		return nil, fmt.Errorf("probefn: invoke: %w", err)
	}
	var rep Reply
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("probefn: reply: %w", err)
	}
	switch {
	case rep.Refused != "":
		return nil, &media.RefusedError{Format: rep.Refused, ContentType: contentType}
	case rep.Unreadable:
		return nil, media.ErrUnreadable
	case !bytes.HasPrefix(bytes.TrimSpace(rep.Probe), []byte("{")):
		return nil, errors.New("probefn: reply holds no probe")
	}
	return rep.Probe, nil
}
