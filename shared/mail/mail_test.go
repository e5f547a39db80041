package mail_test

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/mail"
	"github.com/framebroker/framebroker/shared/mail/mailtest"
)

// TestSMTPSendsToCatcher sends text-only and text+HTML messages through
// net/smtp to a real (in-process) SMTP server and reads them back.
func TestSMTPSendsToCatcher(t *testing.T) {
	c := mailtest.Start(t)
	s := mail.SMTP{Addr: c.Addr, From: "Framebroker <no-reply@framebroker.test>"}
	for i, tc := range []struct {
		name string
		m    mail.Message
	}{
		{"text", mail.Message{To: []string{"ana@example.com"}, Subject: "Webhook disabled — café", Text: "Line one\nLine two"}},
		{"text+html", mail.Message{To: []string{"ana@example.com", "bo@example.com"}, Subject: "Hi", Text: "plain", HTML: "<p>rich</p>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Send(context.Background(), tc.m); err != nil {
				t.Fatal(err)
			}
			got := c.Wait(i+1, 5*time.Second)
			if len(got) != i+1 {
				t.Fatalf("caught %d messages, want %d", len(got), i+1)
			}
			r := got[i]
			if r.From != "no-reply@framebroker.test" || strings.Join(r.To, ",") != strings.Join(tc.m.To, ",") {
				t.Fatalf("envelope %s → %v", r.From, r.To)
			}
			subj, err := new(mime.WordDecoder).DecodeHeader(r.Message.Header.Get("Subject"))
			if err != nil || subj != tc.m.Subject {
				t.Fatalf("subject %q (%v), want %q", subj, err, tc.m.Subject)
			}
			mt, params, _ := mime.ParseMediaType(r.Message.Header.Get("Content-Type"))
			if tc.m.HTML == "" {
				b, _ := io.ReadAll(quotedprintable.NewReader(r.Message.Body))
				if mt != "text/plain" || strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") != tc.m.Text {
					t.Fatalf("%s body %q", mt, b)
				}
				return
			}
			if mt != "multipart/alternative" {
				t.Fatalf("content type %s", mt)
			}
			mr := multipart.NewReader(r.Message.Body, params["boundary"])
			var parts []string
			for {
				p, err := mr.NextPart() // decodes quoted-printable
				if err != nil {
					break
				}
				b, _ := io.ReadAll(p)
				parts = append(parts, p.Header.Get("Content-Type")+"="+string(b))
			}
			want := []string{`text/plain; charset="utf-8"=plain`, `text/html; charset="utf-8"=<p>rich</p>`}
			if strings.Join(parts, "|") != strings.Join(want, "|") {
				t.Fatalf("parts %q", parts)
			}
		})
	}
}

// TestMessageRefusesInjection proves header values with line breaks and
// malformed recipients are refused before anything is sent.
func TestMessageRefusesInjection(t *testing.T) {
	c := mailtest.Start(t)
	s := mail.SMTP{Addr: c.Addr, From: "no-reply@framebroker.test"}
	for _, m := range []mail.Message{
		{Subject: "x", Text: "x"},
		{To: []string{"a@example.com\r\nBcc: evil@example.com"}, Subject: "x", Text: "x"},
		{To: []string{"Ana <a@example.com>"}, Subject: "x", Text: "x"},
		{To: []string{"a@example.com"}, Subject: "x\r\nBcc: evil@example.com", Text: "x"},
		{To: []string{"a@example.com"}, Subject: "x"},
	} {
		if err := s.Send(context.Background(), m); !errors.Is(err, mail.ErrInvalid) {
			t.Errorf("%+v: err %v, want ErrInvalid", m, err)
		}
	}
	if n := len(c.Messages()); n != 0 {
		t.Fatalf("%d messages sent", n)
	}
}

// TestSMTPUnreachable reports a dial error rather than hanging.
func TestSMTPUnreachable(t *testing.T) {
	s := mail.SMTP{Addr: "127.0.0.1:1", From: "no-reply@framebroker.test", Timeout: 2 * time.Second}
	if err := s.Send(context.Background(), mail.Message{To: []string{"a@example.com"}, Subject: "x", Text: "x"}); err == nil {
		t.Fatal("sent to a closed port")
	}
}
