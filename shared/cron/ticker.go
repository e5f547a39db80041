package cron

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Tick is the local stand-in for EventBridge: one goroutine per schedule
// entry calls POST baseURL/internal/cron/{name} with the secret every
// entry's rate (and once at start), until ctx ends. scale divides every rate
// (1 in `framebroker dev`; tests use more).
func Tick(ctx context.Context, baseURL, secret string, schedule []Entry, scale int) {
	if scale < 1 {
		scale = 1
	}
	client := &http.Client{Timeout: 15 * time.Minute}
	for _, e := range schedule {
		go func() {
			t := time.NewTicker(e.Rate / time.Duration(scale))
			defer t.Stop()
			for {
				call(ctx, client, strings.TrimSuffix(baseURL, "/")+"/internal/cron/"+e.Name, secret)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
}

func call(ctx context.Context, c *http.Client, url, secret string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return
	}
	req.Header.Set(HeaderSecret, secret)
	res, err := c.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			slog.WarnContext(ctx, "cron call failed", "url", url, "err", err)
		}
		return
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		slog.WarnContext(ctx, "cron call refused", "url", url, "status", res.StatusCode)
	}
}
