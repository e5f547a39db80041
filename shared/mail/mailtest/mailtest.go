// Package mailtest runs an in-process SMTP catcher (emersion/go-smtp) on a
// loopback port, for tests of code that sends mail through mail.SMTP.
package mailtest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/mail"
	"sync"
	"testing"
	"time"

	smtp "github.com/emersion/go-smtp"
)

// Received is one caught message.
type Received struct {
	From    string
	To      []string
	Data    []byte        // the raw message
	Message *mail.Message // parsed headers and body (nil if unparseable)
}

// Catcher is a running SMTP server that keeps what it receives.
type Catcher struct {
	Addr string
	// OnMessage, if set before mail arrives, is called with each message
	// (framebroker dev prints them).
	OnMessage func(Received)
	srv       *smtp.Server
	mu        sync.Mutex
	msgs      []Received
	got       chan struct{}
}

// Start runs a catcher on 127.0.0.1 and stops it when t ends.
func Start(t testing.TB) *Catcher {
	t.Helper()
	c, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Close stops the catcher.
func (c *Catcher) Close() { _ = c.srv.Close() }

// Listen runs a catcher on addr until Close; the local stack's `dev` uses it
// as its mail server.
func Listen(addr string) (*Catcher, error) {
	c := &Catcher{got: make(chan struct{}, 1024)}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	c.Addr = ln.Addr().String()
	c.srv = smtp.NewServer(backend{c})
	c.srv.Domain = "localhost"
	c.srv.ReadTimeout = 10 * time.Second
	c.srv.WriteTimeout = 10 * time.Second
	c.srv.MaxMessageBytes = 10 << 20
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

// Messages returns a copy of what has been caught so far.
func (c *Catcher) Messages() []Received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Received(nil), c.msgs...)
}

// Wait blocks until at least n messages have been caught or d passes, and
// returns what has been caught.
func (c *Catcher) Wait(n int, d time.Duration) []Received {
	deadline := time.After(d)
	for {
		if m := c.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-c.got:
		case <-deadline:
			return c.Messages()
		}
	}
}

type backend struct{ c *Catcher }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{c: b.c}, nil }

type session struct {
	c    *Catcher
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, _ := mail.ReadMessage(bytes.NewReader(data))
	s.c.mu.Lock()
	rec := Received{From: s.from, To: append([]string(nil), s.to...), Data: data, Message: m}
	s.c.msgs = append(s.c.msgs, rec)
	hook := s.c.OnMessage
	s.c.mu.Unlock()
	if hook != nil {
		hook(rec)
	}
	select {
	case s.c.got <- struct{}{}:
	default:
	}
	return nil
}
