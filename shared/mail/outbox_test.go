package mail_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/db/dbtest"
	"github.com/framebroker/framebroker/shared/mail"
)

// fakeSender records what it sends; it fails while failing is set.
type fakeSender struct {
	mu      sync.Mutex
	sent    []mail.Message
	calls   int
	failing bool
}

func (f *fakeSender) Send(_ context.Context, m mail.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failing {
		return errors.New("smtp: 451 try later")
	}
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeSender) count() (sent, calls int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent), f.calls
}

func msg(subject string) mail.Message {
	return mail.Message{To: []string{"owner@example.com"}, Subject: subject, Text: "body"}
}

// TestOutbox: mail exists only when its transaction commits; each message
// is delivered once however often delivery runs (also concurrently); a
// failure is retried after the backoff and given up after MaxAttempts, and
// bodies are erased once sent or given up.
func TestOutbox(t *testing.T) {
	d := dbtest.New(t)
	ctx := context.Background()
	enqueue := func(o *mail.Outbox, m mail.Message, fail error) error {
		return db.Tx(ctx, d.App, func(tx pgx.Tx) error {
			if err := o.Enqueue(ctx, tx, m); err != nil {
				return err
			}
			return fail
		})
	}

	t.Run("rolled back sends nothing", func(t *testing.T) {
		s := &fakeSender{}
		o := &mail.Outbox{Pool: d.App, Sender: s, Immediate: true}
		refused := errors.New("refused later in the transaction")
		if err := enqueue(o, msg("refused"), refused); !errors.Is(err, refused) {
			t.Fatal(err)
		}
		if sum, err := o.Deliver(ctx, 100); err != nil || sum.Sent != 0 {
			t.Fatalf("deliver: %+v %v", sum, err)
		}
		if sent, calls := s.count(); sent+calls != 0 {
			t.Fatalf("a rolled-back mail was sent (%d calls)", calls)
		}
	})

	t.Run("immediate, then never again", func(t *testing.T) {
		s := &fakeSender{}
		o := &mail.Outbox{Pool: d.App, Sender: s, Immediate: true}
		if err := enqueue(o, msg("welcome"), nil); err != nil {
			t.Fatal(err)
		}
		if sent, _ := s.count(); sent != 1 {
			t.Fatalf("sent %d right after commit, want 1", sent)
		}
		for range 3 {
			if sum, err := o.Deliver(ctx, 100); err != nil || sum.Sent != 0 {
				t.Fatalf("redelivery: %+v %v", sum, err)
			}
		}
		if sent, calls := s.count(); sent != 1 || calls != 1 {
			t.Fatalf("sent %d in %d calls, want once", sent, calls)
		}
	})

	t.Run("retry after failure, once", func(t *testing.T) {
		s := &fakeSender{failing: true}
		var backoff time.Duration = time.Hour
		o := &mail.Outbox{Pool: d.App, Sender: s, Backoff: func(int) time.Duration { return backoff }}
		if err := enqueue(o, msg("alert"), nil); err != nil {
			t.Fatal(err)
		}
		if sum, err := o.Deliver(ctx, 100); err != nil || sum.Failed != 1 {
			t.Fatalf("first attempt: %+v %v", sum, err)
		}
		if sum, _ := o.Deliver(ctx, 100); sum.Sent+sum.Failed != 0 {
			t.Fatalf("retried before its backoff: %+v", sum)
		}
		if _, err := d.Owner.Exec(ctx, `UPDATE mail_outbox SET next_attempt_at = now() WHERE sent_at IS NULL`); err != nil {
			t.Fatal(err)
		}
		s.failing = false
		if sum, err := o.Deliver(ctx, 100); err != nil || sum.Sent != 1 {
			t.Fatalf("retry: %+v %v", sum, err)
		}
		if _, err := d.Owner.Exec(ctx, `UPDATE mail_outbox SET next_attempt_at = now()`); err != nil {
			t.Fatal(err)
		}
		if sum, _ := o.Deliver(ctx, 100); sum.Sent != 0 {
			t.Fatalf("sent twice: %+v", sum)
		}
		var bodies int
		if err := d.Owner.QueryRow(ctx, `SELECT count(*) FROM mail_outbox WHERE sent_at IS NOT NULL AND body_text <> ''`).Scan(&bodies); err != nil || bodies != 0 {
			t.Fatalf("%d sent messages keep their bodies (%v)", bodies, err)
		}
	})

	t.Run("gives up", func(t *testing.T) {
		s := &fakeSender{failing: true}
		o := &mail.Outbox{Pool: d.App, Sender: s, MaxAttempts: 2, Backoff: func(int) time.Duration { return 0 }}
		if err := enqueue(o, msg("doomed"), nil); err != nil {
			t.Fatal(err)
		}
		var total mail.Summary
		for range 4 {
			sum, err := o.Deliver(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			total.Failed += sum.Failed
			total.GaveUp += sum.GaveUp
		}
		if total.Failed != 1 || total.GaveUp != 1 {
			t.Fatalf("%+v, want one failure then given up", total)
		}
	})

	t.Run("concurrent delivery sends once", func(t *testing.T) {
		s := &fakeSender{}
		o := &mail.Outbox{Pool: d.App, Sender: s}
		for i := range 20 {
			if err := enqueue(o, msg("batch "+string(rune('a'+i))), nil); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if _, err := o.Deliver(ctx, 7); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for {
			sum, err := o.Deliver(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Sent == 0 {
				break
			}
		}
		seen := map[string]int{}
		for _, m := range s.sent {
			seen[m.Subject]++
		}
		if len(s.sent) != 20 || len(seen) != 20 {
			t.Fatalf("sent %d messages, %d distinct; want 20 once each", len(s.sent), len(seen))
		}
	})
}
