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
	"mime"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
)

// uploader uploads one file as a multipart asset, resumably.
type uploader struct {
	base, token, ws string
	partSize        int64
	out             io.Writer // progress
	// failAfter, when > 0, stops after that many parts (tests simulate an
	// interruption with it).
	failAfter int
}

// uploadState is kept beside the file (FILE.fbupload) until complete, so a
// second run resumes the same asset.
type uploadState struct {
	Asset  string `json:"asset"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

func (u uploader) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func hashRange(f *os.File, off, n int64) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, n)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// upload sends path to workspace u.ws and returns the asset id.
func (u uploader) upload(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	size := st.Size()
	statePath := path + ".fbupload"
	var state uploadState
	if b, err := os.ReadFile(statePath); err == nil && json.Unmarshal(b, &state) == nil && state.Size == size {
		fmt.Fprintf(u.out, "resuming %s\n", state.Asset)
	} else {
		fmt.Fprintf(u.out, "hashing %s (%d bytes)\n", filepath.Base(path), size)
		sum, err := hashRange(f, 0, size)
		if err != nil {
			return "", err
		}
		ct := mime.TypeByExtension(filepath.Ext(path))
		if ct == "" || strings.Contains(ct, ";") {
			ct = "application/octet-stream"
		}
		var created struct {
			ID string `json:"id"`
		}
		if err := u.call(ctx, "POST", "/v1/workspaces/"+u.ws+"/assets", map[string]any{
			"filename": filepath.Base(path), "content_type": ct, "size": size, "sha256": sum, "part_size": u.partSize}, &created); err != nil {
			return "", err
		}
		state = uploadState{Asset: created.ID, SHA256: sum, Size: size}
		b, _ := json.Marshal(state)
		if err := os.WriteFile(statePath, b, 0o600); err != nil {
			return "", err
		}
	}
	base := "/v1/workspaces/" + u.ws + "/assets/" + state.Asset
	var parts struct {
		PartSize  int64 `json:"part_size"`
		PartCount int   `json:"part_count"`
		Parts     []struct {
			Number int32 `json:"number"`
		} `json:"parts"`
	}
	if err := u.call(ctx, "GET", base+"/parts", nil, &parts); err != nil {
		return "", err
	}
	have := map[int32]bool{}
	for _, p := range parts.Parts {
		have[p.Number] = true
	}
	done := int64(len(have))
	sent := 0
	for n := int32(1); int(n) <= parts.PartCount; n++ {
		if have[n] {
			continue
		}
		if u.failAfter > 0 && sent == u.failAfter {
			return "", errors.New("interrupted")
		}
		off := int64(n-1) * parts.PartSize
		ln := min(parts.PartSize, size-off)
		sum, err := hashRange(f, off, ln)
		if err != nil {
			return "", err
		}
		var urls struct {
			Parts []struct {
				URL     string            `json:"url"`
				Headers map[string]string `json:"headers"`
			} `json:"parts"`
		}
		if err := u.call(ctx, "POST", base+"/parts", map[string]any{"parts": []map[string]any{{"number": n, "sha256": sum}}}, &urls); err != nil {
			return "", err
		}
		req, err := http.NewRequestWithContext(ctx, "PUT", urls.Parts[0].URL, io.NewSectionReader(f, off, ln))
		if err != nil {
			return "", errors.New("bad part URL")
		}
		req.ContentLength = ln
		for k, v := range urls.Parts[0].Headers {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", fmt.Errorf("part %d: upload failed", n) // the error would print the signed URL
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return "", fmt.Errorf("part %d: status %d", n, res.StatusCode)
		}
		sent++
		done++
		bar := int(40 * done / int64(parts.PartCount))
		fmt.Fprintf(u.out, "\r[%s%s] %3d%% part %d/%d", strings.Repeat("#", bar), strings.Repeat(" ", 40-bar), 100*done/int64(parts.PartCount), done, parts.PartCount)
	}
	fmt.Fprintln(u.out)
	var as struct {
		Status string `json:"status"`
	}
	if err := u.call(ctx, "POST", base+"/complete", nil, &as); err != nil {
		return "", err
	}
	os.Remove(statePath)
	fmt.Fprintf(u.out, "%s %s (sha256 %s)\n", state.Asset, as.Status, state.SHA256)
	return state.Asset, nil
}

func runUpload(args []string) int {
	fs := flag.NewFlagSet("upload", flag.ContinueOnError)
	ws := fs.String("workspace", "", "workspace id (ws_…)")
	url := fs.String("url", envOr("FRAMEBROKER_URL", "http://127.0.0.1:8080"), "API base URL")
	partSize := fs.Int64("part-size", 64<<20, "part size in bytes (5 MiB to 5 GiB)")
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
	}
	token := os.Getenv("FRAMEBROKER_TOKEN")
	if file == "" || *ws == "" || token == "" {
		fmt.Fprintln(os.Stderr, "usage: FRAMEBROKER_TOKEN=… framebroker upload FILE --workspace ws_… [--url URL] [--part-size BYTES]")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	u := uploader{base: strings.TrimRight(*url, "/"), token: token, ws: *ws, partSize: *partSize, out: os.Stderr}
	if _, err := u.upload(ctx, file); err != nil {
		fmt.Fprintln(os.Stderr, "\nupload:", err, "(run the same command again to resume)")
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
