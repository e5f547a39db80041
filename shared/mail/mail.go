// Package mail sends transactional email: a small Sender port and an SMTP
// implementation (Amazon SES's SMTP interface in AWS, a local catcher in
// development and tests). Messages carry a plain-text part and, optionally,
// an HTML alternative.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// Message is one email.
type Message struct {
	To      []string // bare addresses, e.g. "ana@example.com"
	Subject string
	Text    string // the plain-text body (required)
	HTML    string // optional HTML alternative
}

// Sender sends messages.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrInvalid is returned (wrapped) for a message that cannot be sent as is:
// no recipient, a malformed address, a header with a line break.
var ErrInvalid = errors.New("mail: invalid message")

// Validate checks that m can be rendered safely: at least one well-formed
// recipient, and no CR or LF in any header value (header injection).
func (m Message) Validate() error {
	if len(m.To) == 0 {
		return fmt.Errorf("%w: no recipient", ErrInvalid)
	}
	for _, to := range m.To {
		if strings.ContainsAny(to, "\r\n") {
			return fmt.Errorf("%w: line break in recipient", ErrInvalid)
		}
		a, err := mail.ParseAddress(to)
		if err != nil || a.Address != to {
			return fmt.Errorf("%w: recipient %q is not a bare address", ErrInvalid, to)
		}
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return fmt.Errorf("%w: line break in subject", ErrInvalid)
	}
	if m.Text == "" {
		return fmt.Errorf("%w: empty text body", ErrInvalid)
	}
	return nil
}

// Render builds the RFC 5322 message: headers, then a quoted-printable text
// part, or a multipart/alternative of text and HTML.
func Render(from string, m Message, now time.Time) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from)
	hdr("To", strings.Join(m.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Date", now.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+randomToken()+"@"+domainOf(from)+">")
	hdr("MIME-Version", "1.0")
	if m.HTML == "" {
		hdr("Content-Type", `text/plain; charset="utf-8"`)
		hdr("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, m.Text)
		return b.Bytes(), nil
	}
	boundary := "fb-" + randomToken()
	hdr("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ ct, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		b.WriteString("--" + boundary + "\r\n")
		hdr("Content-Type", part.ct+`; charset="utf-8"`)
		hdr("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, part.body)
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

func writeQP(b *bytes.Buffer, s string) {
	w := quotedprintable.NewWriter(b)
	_, _ = w.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")))
	_ = w.Close()
}

func randomToken() string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

func domainOf(addr string) string {
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = a.Address
	}
	if _, d, ok := strings.Cut(addr, "@"); ok && d != "" {
		return d
	}
	return "localhost"
}

// SMTP sends through an SMTP server with net/smtp. It upgrades to TLS when
// the server offers STARTTLS, and authenticates (PLAIN) when Username is set,
// which net/smtp allows only over TLS or to localhost.
type SMTP struct {
	Addr     string // host:port
	From     string // envelope and header sender, e.g. "Framebroker <no-reply@example.com>"
	Username string
	Password string
	// Timeout bounds the whole exchange when ctx has no earlier deadline;
	// zero means 30 s.
	Timeout time.Duration
	// TLSConfig is used for STARTTLS; nil uses the server name of Addr.
	TLSConfig *tls.Config
}

// Send implements Sender.
func (s SMTP) Send(ctx context.Context, m Message) error {
	body, err := Render(s.From, m, time.Now())
	if err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("mail: dial %s: %w", s.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("mail: greeting: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := s.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("mail: starttls: %w", err)
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("mail: auth: %w", err)
		}
	}
	envFrom := s.From
	if a, err := mail.ParseAddress(s.From); err == nil {
		envFrom = a.Address
	}
	if err := c.Mail(envFrom); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	for _, to := range m.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("mail: RCPT TO: %w", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("mail: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: end of data: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("mail: QUIT: %w", err)
	}
	return nil
}

// Discard is a Sender for processes with no mail configured: it logs that a
// message was dropped (recipient count and subject, never the body) and
// returns nil.
type Discard struct{}

// Send implements Sender.
func (Discard) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	slog.WarnContext(ctx, "mail not configured; message dropped", "recipients", len(m.To), "subject", m.Subject)
	return nil
}
