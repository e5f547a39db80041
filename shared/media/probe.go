// Package media runs the real ffprobe on media the server must inspect, and
// confines every ffprobe and ffmpeg invocation to the one input it was
// given (see sandbox.go).
package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// FFprobe probes media with the ffprobe binary at Path.
type FFprobe struct {
	Path    string        // default "ffprobe"
	Timeout time.Duration // default 60 s
}

// Probe returns ffprobe's JSON description (format and streams) of the media
// at input — a presigned HTTP(S) URL or a local path — declared as
// contentType. ffprobe may open nothing but input (protocol allow-list) and
// may read it only with a demuxer accepted for contentType (format
// allow-list). A playlist or another format not accepted for contentType is
// a *RefusedError naming the detected format; anything else ffprobe cannot
// read is ErrUnreadable.
func (f FFprobe) Probe(ctx context.Context, input, contentType string) (json.RawMessage, error) {
	path, timeout := f.Path, f.Timeout
	if path == "" {
		path = "ffprobe"
	}
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	confine, err := InputArgs(input, Formats(contentType))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// First check: playlists and reference lists by their first bytes.
	// ffprobe's own detection of them depends on scores that vary with the
	// content; the allow-list below stops them either way, this names them.
	if f := Sniff(readHead(ctx, input)); f != "" {
		return nil, &RefusedError{Format: f, ContentType: contentType}
	}
	args := append([]string{"-hide_banner", "-v", "error"}, confine...)
	args = append(args, "-print_format", "json", "-show_format", "-show_streams", "-i", input)
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = []string{} // ffprobe needs no credentials
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if name := refusedFormat(errb.Bytes()); name != "" {
			return nil, &RefusedError{Format: name, ContentType: contentType}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("media: ffprobe: %w", ctx.Err())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, ErrUnreadable
		}
		return nil, fmt.Errorf("media: run ffprobe: %w", err)
	}
	var doc struct {
		Streams []json.RawMessage `json:"streams"`
		Format  json.RawMessage   `json:"format"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Streams) == 0 {
		return nil, ErrUnreadable
	}
	compact := new(bytes.Buffer)
	if err := json.Compact(compact, out.Bytes()); err != nil {
		return nil, ErrUnreadable
	}
	return compact.Bytes(), nil
}

// headClient fetches the first bytes of a presigned input. It follows no
// redirects: the input is one object, not whatever it points to.
var headClient = &http.Client{
	Timeout:       IOTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// readHead returns up to SniffLen leading bytes of input (a URL Protocols
// allows, or a local path), or nil if they cannot be read (ffprobe then
// decides alone).
func readHead(ctx context.Context, input string) []byte {
	protos, err := Protocols(input)
	if err != nil {
		return nil
	}
	var r io.ReadCloser
	if protos == "file" {
		f, err := os.Open(input)
		if err != nil {
			return nil
		}
		r = f
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, input, nil)
		if err != nil {
			return nil
		}
		req.Header.Set("Range", "bytes=0-"+strconv.Itoa(SniffLen-1))
		res, err := headClient.Do(req)
		if err != nil {
			return nil
		}
		if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusPartialContent {
			res.Body.Close()
			return nil
		}
		r = res.Body
	}
	defer r.Close()
	b, _ := io.ReadAll(io.LimitReader(r, SniffLen))
	return b
}
