package cron

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Scheduler is the local stand-in for EventBridge: one goroutine per
// schedule entry calls POST baseURL/internal/cron/{name} with the secret
// every entry's rate while the entry is on. Ordinary entries are always on
// (and called once at start); due-only entries start off, like their
// DISABLED rules in AWS, and are switched by Wake and Sleep — it is the
// wake.Switch of `framebroker dev`, so the same cron handler decides
// locally what the cron Lambda decides in AWS. Wake also calls the job at
// once (EventBridge's first run comes within a rate period).
type Scheduler struct {
	url, secret string
	schedule    []Entry
	scale       int
	client      *http.Client

	mu     sync.Mutex
	on     map[string]bool
	kick   map[string]chan struct{}
	fire   map[string]chan struct{}
	timers map[string]*time.Timer
}

// NewScheduler returns a Scheduler for schedule; scale divides every rate
// (1 in `framebroker dev`; tests use more). Nothing runs before Start.
func NewScheduler(baseURL, secret string, schedule []Entry, scale int) *Scheduler {
	if scale < 1 {
		scale = 1
	}
	s := &Scheduler{url: strings.TrimSuffix(baseURL, "/"), secret: secret, schedule: schedule, scale: scale,
		client: &http.Client{Timeout: 15 * time.Minute}, on: map[string]bool{}, kick: map[string]chan struct{}{},
		fire: map[string]chan struct{}{}, timers: map[string]*time.Timer{}}
	for _, e := range schedule {
		s.on[e.Name] = !e.DueOnly
		s.kick[e.Name] = make(chan struct{}, 1)
		s.fire[e.Name] = make(chan struct{}, 1)
	}
	return s
}

// Start runs the schedule until ctx ends.
func (s *Scheduler) Start(ctx context.Context) {
	for _, e := range s.schedule {
		go func() {
			t := time.NewTicker(e.Rate / time.Duration(s.scale))
			defer t.Stop()
			once := false
			for {
				if once || s.On(e.Name) {
					call(ctx, s.client, s.url+"/internal/cron/"+e.Name, s.secret)
				}
				once = false
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				case <-s.kick[e.Name]:
				case <-s.fire[e.Name]:
					once = true // a one-time wake: runs even while off
				}
			}
		}()
	}
}

// On reports whether job's schedule is on.
func (s *Scheduler) On(job string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.on[job]
}

// Wake switches job's schedule on and calls it soon (wake.Waker).
func (s *Scheduler) Wake(_ context.Context, job string) error {
	s.mu.Lock()
	k, ok := s.kick[job]
	if ok {
		s.on[job] = true
	}
	s.mu.Unlock()
	if ok {
		select {
		case k <- struct{}{}:
		default:
		}
	}
	return nil
}

// Sleep switches job's schedule off (wake.Switch).
func (s *Scheduler) Sleep(_ context.Context, job string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.on[job]; ok {
		s.on[job] = false
	}
	return nil
}

// WakeAt calls job once at (scaled from now), whether its schedule is on
// or not, replacing an earlier one-time wake of job (wake.Timer).
func (s *Scheduler) WakeAt(_ context.Context, job string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.fire[job]
	if !ok {
		return nil
	}
	if t := s.timers[job]; t != nil {
		t.Stop()
	}
	s.timers[job] = time.AfterFunc(time.Until(at)/time.Duration(s.scale), func() {
		select {
		case f <- struct{}{}:
		default:
		}
	})
	return nil
}

// Tick starts a Scheduler for schedule and returns it (see Scheduler).
func Tick(ctx context.Context, baseURL, secret string, schedule []Entry, scale int) *Scheduler {
	s := NewScheduler(baseURL, secret, schedule, scale)
	s.Start(ctx)
	return s
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
