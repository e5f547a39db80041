package identity_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/mail"
)

// outboxRows counts the outbox rows addressed to email, and how many of
// them are marked sent.
func outboxRows(t *testing.T, e *apptest.Env, email string) (rows, sent int) {
	t.Helper()
	if err := e.DB.Owner.QueryRow(context.Background(),
		`SELECT count(*), count(sent_at) FROM mail_outbox WHERE $1 = ANY(recipients)`, email).Scan(&rows, &sent); err != nil {
		t.Fatal(err)
	}
	return rows, sent
}

// redeliver makes every unsent row due and runs the outbox cron's delivery
// n times.
func redeliver(t *testing.T, e *apptest.Env, n int) {
	t.Helper()
	ctx := context.Background()
	for range n {
		if _, err := e.DB.Owner.Exec(ctx, `UPDATE mail_outbox SET next_attempt_at = now() WHERE sent_at IS NULL`); err != nil {
			t.Fatal(err)
		}
		if _, err := e.App.Mail.Deliver(ctx, 100); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIdentityMailThroughOutbox: every identity mail (verification at
// signup and on resend, reset and magic links, and the notes to unknown or
// existing addresses) is one outbox row written with its decision, sent
// right after commit (the catcher has it when the reply arrives) and never
// again by later outbox runs.
func TestIdentityMailThroughOutbox(t *testing.T) {
	e := newEnv(t)
	tok, _ := e.UnverifiedUser("ada@example.com")
	caught := len(e.Mail.Messages())
	for _, c := range []struct {
		name, email, subject string
		do                   func() apptest.Response
	}{
		{"signup", "bob@example.com", "Verify your Framebroker email address", func() apptest.Response {
			return signup(e, "bob@example.com")
		}},
		{"resend verification", "ada@example.com", "Verify your Framebroker email address", func() apptest.Response {
			return e.Do("POST", "/v1/auth/verify-email/resend", tok, nil)
		}},
		{"reset", "ada@example.com", "Reset your Framebroker password", func() apptest.Response {
			return e.Do("POST", "/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"})
		}},
		{"magic link", "ada@example.com", "Your Framebroker sign-in link", func() apptest.Response {
			return e.Do("POST", "/v1/auth/magic-link", "", map[string]string{"email": "ada@example.com"})
		}},
		{"reset, no account", "nobody@example.com", "Reset your Framebroker password", func() apptest.Response {
			return e.Do("POST", "/v1/auth/password-reset", "", map[string]string{"email": "nobody@example.com"})
		}},
		{"signup, existing account", "ada@example.com", "Someone tried to sign up with your email", func() apptest.Response {
			return signup(e, "ada@example.com")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rowsBefore, _ := outboxRows(t, e, c.email)
			if r := c.do(); r.Status >= 300 {
				t.Fatalf("status %d", r.Status)
			}
			caught++
			// Sent before the reply: no wait needed.
			if n := len(e.Mail.Messages()); n != caught {
				t.Fatalf("%d messages caught when the reply came, want %d", n, caught)
			}
			if subj, _ := mailTo(t, e, caught); subj != c.subject {
				t.Fatalf("subject %q, want %q", subj, c.subject)
			}
			rows, sent := outboxRows(t, e, c.email)
			if rows != rowsBefore+1 || sent != rows {
				t.Fatalf("outbox rows %d (sent %d), want %d all sent", rows, sent, rowsBefore+1)
			}
			redeliver(t, e, 3)
			if n := len(e.Mail.Messages()); n != caught {
				t.Fatalf("%d messages after three outbox runs, want still %d", n, caught)
			}
		})
	}
}

// TestSignupRollbackMailsNoVerification: a signup for an existing address
// rolls back its user, token and verification mail; only the note to the
// owner is written and sent.
func TestSignupRollbackMailsNoVerification(t *testing.T) {
	e := newEnv(t)
	signup(e, "ada@example.com")
	signup(e, "Ada@Example.com")
	msgs := e.Mail.Wait(2, 0)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	if subj, _ := mailTo(t, e, 2); subj != "Someone tried to sign up with your email" {
		t.Fatalf("second mail %q", subj)
	}
	var verifies int
	if err := e.DB.Owner.QueryRow(context.Background(),
		`SELECT count(*) FROM mail_outbox WHERE subject = 'Verify your Framebroker email address'`).Scan(&verifies); err != nil {
		t.Fatal(err)
	}
	if verifies != 1 {
		t.Fatalf("%d verification mails in the outbox, want 1 (the rolled-back signup's must not exist)", verifies)
	}
	redeliver(t, e, 2)
	if n := len(e.Mail.Messages()); n != 2 {
		t.Fatalf("%d messages after outbox runs, want 2", n)
	}
}

// flakySender fails while fail is set and records what it sent.
type flakySender struct {
	mu   sync.Mutex
	fail bool
	sent []mail.Message
}

func (f *flakySender) Send(_ context.Context, m mail.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("smtp: 451 try again later")
	}
	f.sent = append(f.sent, m)
	return nil
}

// TestResetMailRetried: when the immediate attempt fails the reply is
// still 202 (the mail is safe in the outbox), the cron's retry sends it
// once, and further runs send nothing.
func TestResetMailRetried(t *testing.T) {
	e := newEnv(t)
	signup(e, "ada@example.com")
	mailTo(t, e, 1)
	f := &flakySender{fail: true}
	o := &mail.Outbox{Pool: e.DB.App, Sender: f, Immediate: true}
	e.App.Identity.Use(identity.WithMail(o))
	e.Must(http.StatusAccepted, "POST", "/v1/auth/password-reset", "", map[string]string{"email": "ada@example.com"})
	if rows, sent := outboxRows(t, e, "ada@example.com"); rows != 2 || sent != 1 {
		t.Fatalf("outbox rows %d sent %d, want 2 and 1 (the reset waits for a retry)", rows, sent)
	}
	ctx := context.Background()
	f.mu.Lock()
	f.fail = false
	f.mu.Unlock()
	for i := range 3 {
		if _, err := e.DB.Owner.Exec(ctx, `UPDATE mail_outbox SET next_attempt_at = now() WHERE sent_at IS NULL`); err != nil {
			t.Fatal(err)
		}
		sum, err := o.Deliver(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 1, false: 0}[i == 0]; sum.Sent != want {
			t.Fatalf("run %d sent %d, want %d", i, sum.Sent, want)
		}
	}
	if len(f.sent) != 1 || f.sent[0].Subject != "Reset your Framebroker password" || f.sent[0].To[0] != "ada@example.com" {
		t.Fatalf("sent %+v, want the reset once", f.sent)
	}
}
