// Command worker is the encode worker. It holds no credentials: its whole
// authority is the presigned URLs on its command line (T-04) — GET URLs for
// its inputs, a PUT URL per output and one for its report. It runs ffmpeg
// (which streams the input from its URL), hashes each output while uploading
// it, and writes a JSON report (outputs with SHA-256 and size, the ffmpeg
// version, the full argv with URL signatures redacted, stage timings) to the
// report URL and to stdout.
//
// In AWS it is the container of a Fargate task with no task role; locally it
// is a child process started with an empty environment.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/framebroker/framebroker/shared/broker"
	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/pipeline/spec"
	"github.com/framebroker/framebroker/shared/preset"
)

// MaxOutput is the largest output uploaded with a single presigned PUT.
const MaxOutput = 5 << 30

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// Report and OutputReport are the report's shape, shared with the
// coordinator that verifies it.
type (
	Report       = spec.Report
	OutputReport = spec.OutputReport
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, os.Args[1:])
	if err != nil {
		rep.Error = err.Error()
	}
	out, _ := json.Marshal(rep)
	fmt.Println(string(out))
	if err != nil {
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) (rep Report, err error) {
	rep = Report{StartedAt: time.Now().UTC(), TimingsMS: map[string]int64{}, WorkerArgv: broker.RedactAll(args), Environment: []string{}}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		rep.Environment = append(rep.Environment, k)
	}
	sort.Strings(rep.Environment)

	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	presetName := fs.String("preset", "", "preset name")
	var inputs, outputs multi
	fs.Var(&inputs, "input", "presigned GET URL of an input (repeatable)")
	fs.Var(&outputs, "output", "NAME=presigned PUT URL of an output (repeatable)")
	reportURL := fs.String("report", "", "presigned PUT URL for the JSON report")
	duration := fs.Float64("duration", 0, "input duration in seconds (from the probe)")
	ffmpeg := fs.String("ffmpeg", "/usr/bin/ffmpeg", "ffmpeg binary")
	timeout := fs.Duration("timeout", spec.EncodeTimeoutMinutes*time.Minute, "longest the encode may run")
	if err := fs.Parse(args); err != nil {
		return rep, err
	}
	rep.Preset = *presetName
	defer func() {
		rep.FinishedAt = time.Now().UTC()
		if *reportURL != "" {
			b, _ := json.Marshal(rep)
			if _, _, perr := put(ctx, *reportURL, "application/json", bytes.NewReader(b), int64(len(b))); perr != nil && err == nil {
				err = fmt.Errorf("upload report: %w", perr)
			}
		}
	}()

	p, ok := preset.Lookup(*presetName)
	if !ok {
		return rep, fmt.Errorf("unknown preset %q", *presetName)
	}
	if len(inputs) == 0 {
		return rep, errors.New("no --input")
	}
	urls := map[string]string{}
	for _, o := range outputs {
		name, u, ok := strings.Cut(o, "=")
		if !ok {
			return rep, fmt.Errorf("--output %q: want NAME=URL", broker.Redact(o))
		}
		urls[name] = u
	}
	for _, o := range p.Outputs {
		if urls[o.Name] == "" {
			return rep, fmt.Errorf("no --output for %s", o.Name)
		}
	}

	vctx, vcancel := context.WithTimeout(ctx, 30*time.Second)
	v, err := exec.CommandContext(vctx, *ffmpeg, "-version").Output()
	vcancel()
	if err != nil {
		return rep, fmt.Errorf("ffmpeg -version: %w", err)
	}
	rep.EncoderVersion, _, _ = strings.Cut(string(v), "\n")

	dir, err := os.MkdirTemp("", "encode-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	// The input is hostile media: ffmpeg may open nothing but its one
	// presigned URL, and only with a demuxer that follows no references
	// (media.Confine adds the protocol and format allow-lists and an I/O
	// timeout before the -i).
	argv, err := media.Confine(p.Args(inputs[0], dir, *duration), nil)
	if err != nil {
		return rep, err
	}
	rep.FFmpegArgv = broker.RedactAll(append([]string{*ffmpeg}, argv...))
	t0 := time.Now()
	ectx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cmd := exec.CommandContext(ectx, *ffmpeg, argv...)
	cmd.Env = []string{}
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return rep, fmt.Errorf("ffmpeg: %w: %s", err, broker.Redact(tail(stderr.String(), 500)))
	}
	rep.TimingsMS["encode"] = time.Since(t0).Milliseconds()

	t0 = time.Now()
	for _, o := range p.Outputs {
		f, err := os.Open(filepath.Join(dir, o.Name))
		if err != nil {
			return rep, fmt.Errorf("output %s: %w", o.Name, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return rep, err
		}
		if st.Size() > MaxOutput {
			f.Close()
			return rep, fmt.Errorf("output %s is %d bytes, over the %d-byte single-upload limit", o.Name, st.Size(), int64(MaxOutput))
		}
		sum, n, err := put(ctx, urls[o.Name], o.ContentType, f, st.Size())
		f.Close()
		if err != nil {
			return rep, fmt.Errorf("upload %s: %w", o.Name, err)
		}
		rep.Outputs = append(rep.Outputs, OutputReport{Name: o.Name, SHA256: sum, Size: n})
	}
	rep.TimingsMS["upload"] = time.Since(t0).Milliseconds()
	return rep, nil
}

// put uploads body to a presigned PUT URL, hashing it on the way.
func put(ctx context.Context, url, contentType string, body io.Reader, size int64) (string, int64, error) {
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(body, h)}
	req, err := http.NewRequestWithContext(ctx, "PUT", url, cr)
	if err != nil {
		return "", 0, errors.New("bad upload URL")
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			return "", 0, fmt.Errorf("PUT: %w", ue.Unwrap()) // the URL error would print the signed URL
		}
		return "", 0, errors.New("PUT failed")
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("PUT: status %d: %s", res.StatusCode, strings.TrimSpace(string(msg)))
	}
	return hex.EncodeToString(h.Sum(nil)), cr.n, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
