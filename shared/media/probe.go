// Package media runs the real ffprobe on media the server must inspect.
package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// ErrUnreadable is returned when ffprobe cannot read the input as media.
var ErrUnreadable = errors.New("media: input is not readable media")

// FFprobe probes media with the ffprobe binary at Path.
type FFprobe struct {
	Path    string        // default "ffprobe"
	Timeout time.Duration // default 60 s
}

// Probe returns ffprobe's JSON description (format and streams) of the media
// at url, which may be a presigned HTTP URL or a file path.
func (f FFprobe) Probe(ctx context.Context, url string) (json.RawMessage, error) {
	path, timeout := f.Path, f.Timeout
	if path == "" {
		path = "ffprobe"
	}
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", url)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = []string{} // ffprobe needs no credentials
	if err := cmd.Run(); err != nil {
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
