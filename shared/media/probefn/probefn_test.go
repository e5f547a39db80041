package probefn

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/media"
)

// fakeProber answers what it is told and records what it was asked.
type fakeProber struct {
	raw      json.RawMessage
	err      error
	input    string
	deadline time.Duration
}

func (f *fakeProber) Probe(ctx context.Context, input, _ string) (json.RawMessage, error) {
	f.input = input
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	return f.raw, f.err
}

// loop is an Invoker that runs Handler in process, through JSON both ways
// (what the Lambda boundary does to the values).
type loop struct {
	h func(context.Context, Request) (Reply, error)
}

func (l loop) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var r Request
	if err := json.Unmarshal(payload, &r); err != nil {
		return nil, err
	}
	rep, err := l.h(ctx, r)
	if err != nil {
		return nil, err
	}
	return json.Marshal(rep)
}

// TestOutcomesCrossTheBoundary: each outcome of the prober in the function
// reaches the caller as what media.FFprobe would have returned in process.
func TestOutcomesCrossTheBoundary(t *testing.T) {
	probe := json.RawMessage(`{"format":{"duration":"1.0"},"streams":[{"codec_name":"h264"}]}`)
	for _, tc := range []struct {
		name    string
		prober  fakeProber
		input   string
		check   func(json.RawMessage, error) bool
		probed  bool
		comment string
	}{
		{"probe", fakeProber{raw: probe}, "https://bucket.s3.amazonaws.com/k?X-Amz-Signature=x",
			func(r json.RawMessage, err error) bool { return err == nil && string(r) == string(probe) }, true, ""},
		{"refused", fakeProber{err: &media.RefusedError{Format: "hls", ContentType: "video/mp4"}}, "https://h/k",
			func(_ json.RawMessage, err error) bool {
				var rf *media.RefusedError
				return errors.As(err, &rf) && rf.Format == "hls" && rf.ContentType == "video/mp4"
			}, true, ""},
		{"unreadable", fakeProber{err: media.ErrUnreadable}, "http://127.0.0.1:7070/k",
			func(_ json.RawMessage, err error) bool { return errors.Is(err, media.ErrUnreadable) }, true, ""},
		{"failure is not unreadable", fakeProber{err: errors.New("media: run ffprobe: exec format error")}, "https://h/k",
			func(_ json.RawMessage, err error) bool {
				var rf *media.RefusedError
				return err != nil && !errors.Is(err, media.ErrUnreadable) && !errors.As(err, &rf)
			}, true, ""},
		{"local path refused", fakeProber{raw: probe}, "/var/task/bootstrap",
			func(_ json.RawMessage, err error) bool { return err != nil }, false, ""},
		{"file URL refused", fakeProber{raw: probe}, "file:///etc/passwd",
			func(_ json.RawMessage, err error) bool { return err != nil }, false, ""},
		{"URL without host refused", fakeProber{raw: probe}, "https:///k",
			func(_ json.RawMessage, err error) bool { return err != nil }, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.prober
			c := Client{Invoker: loop{Handler(&p)}}
			raw, err := c.Probe(context.Background(), tc.input, "video/mp4")
			if !tc.check(raw, err) {
				t.Fatalf("got %s, %v", raw, err)
			}
			if tc.probed != (p.input == tc.input) {
				t.Fatalf("prober called with %q (want called: %v)", p.input, tc.probed)
			}
		})
	}
}

// TestDeadlineTravels: the caller's remaining time bounds the probe in the
// function; a request without one gets MaxTimeout, and a bigger one is
// capped.
func TestDeadlineTravels(t *testing.T) {
	p := fakeProber{raw: json.RawMessage(`{"streams":[{}]}`)}
	c := Client{Invoker: loop{Handler(&p)}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Probe(ctx, "https://h/k", "video/mp4"); err != nil {
		t.Fatal(err)
	}
	if p.deadline <= 0 || p.deadline > 5*time.Second {
		t.Fatalf("probe deadline %s, want at most the caller's 5s", p.deadline)
	}
	if _, err := c.Probe(context.Background(), "https://h/k", "video/mp4"); err != nil {
		t.Fatal(err)
	}
	if p.deadline <= 30*time.Second || p.deadline > MaxTimeout {
		t.Fatalf("probe deadline %s without a caller deadline, want MaxTimeout", p.deadline)
	}
	if _, err := Handler(&p)(context.Background(), Request{Input: "https://h/k", TimeoutMS: int64(time.Hour / time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if p.deadline > MaxTimeout {
		t.Fatalf("an hour asked, %s granted (cap MaxTimeout)", p.deadline)
	}
	done, cancel2 := context.WithTimeout(context.Background(), -time.Second)
	defer cancel2()
	if _, err := c.Probe(done, "https://h/k", "video/mp4"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("expired caller deadline: %v", err)
	}
}

// reply is an Invoker that answers fixed bytes.
type reply []byte

func (r reply) Invoke(context.Context, []byte) ([]byte, error) { return r, nil }

// TestMalformedReplies: a reply that is not one of the three outcomes is
// an error, never an empty probe.
func TestMalformedReplies(t *testing.T) {
	for _, b := range []string{``, `null`, `{}`, `[]`, `{"probe":null}`, `"x"`, `{"unreadable":false}`} {
		raw, err := Client{Invoker: reply(b)}.Probe(context.Background(), "https://h/k", "video/mp4")
		if err == nil || errors.Is(err, media.ErrUnreadable) {
			t.Errorf("reply %q: %s, %v", b, raw, err)
		}
	}
}

// FuzzClientReply: whatever the function answers, the client returns
// exactly one of a non-empty probe, a refusal naming a format,
// ErrUnreadable or an error, and never panics.
func FuzzClientReply(f *testing.F) {
	for _, s := range []string{`{"probe":{"streams":[]}}`, `{"refused":"hls"}`, `{"unreadable":true}`, `{}`, `{"probe":1,"refused":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		raw, err := Client{Invoker: reply(b)}.Probe(context.Background(), "https://h/k", "video/mp4")
		var rf *media.RefusedError
		switch {
		case err == nil:
			var doc map[string]any
			if json.Unmarshal(raw, &doc) != nil {
				t.Fatalf("success with a probe that is not a JSON object: %q", raw)
			}
		case errors.As(err, &rf):
			if rf.Format == "" {
				t.Fatal("refusal without a format")
			}
		}
	})
}
