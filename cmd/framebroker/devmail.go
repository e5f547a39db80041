package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/framebroker/framebroker/shared/mail/mailtest"
)

// printMail shows a caught message on the dev console (recipients, subject
// and any links, which is what a developer needs to verify an address or
// reset a password) and saves the raw message under dir.
func printMail(dir string, m mailtest.Received) {
	_ = os.MkdirAll(dir, 0o700)
	path := filepath.Join(dir, time.Now().UTC().Format("20060102T150405.000000000")+".eml")
	_ = os.WriteFile(path, m.Data, 0o600)
	subject := ""
	var links []string
	if m.Message != nil {
		subject, _ = new(mime.WordDecoder).DecodeHeader(m.Message.Header.Get("Subject"))
		links = findLinks(plainText(m.Message.Header.Get("Content-Type"), m.Message.Header.Get("Content-Transfer-Encoding"), m.Message.Body))
	}
	fmt.Fprintf(os.Stderr, "\n✉  mail to %s: %q (%s)\n", strings.Join(m.To, ", "), subject, path)
	for _, l := range links {
		fmt.Fprintf(os.Stderr, "   %s\n", l)
	}
	// links.txt has every mailed link, decoded, one per line, so a shell
	// (the README's session) can pick up the newest without parsing mail.
	if f, err := os.OpenFile(filepath.Join(dir, "links.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		for _, l := range links {
			fmt.Fprintln(f, l)
		}
		_ = f.Close()
	}
}

// plainText returns the text/plain part of a message body, decoded.
func plainText(contentType, encoding string, body io.Reader) string {
	mt, params, _ := mime.ParseMediaType(contentType)
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				return ""
			}
			if t := plainText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); t != "" {
				return t
			}
		}
	}
	if mt != "" && mt != "text/plain" {
		return ""
	}
	if strings.EqualFold(encoding, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, _ := io.ReadAll(io.LimitReader(body, 1<<20))
	return string(b)
}

func findLinks(text string) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewBufferString(text))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if strings.HasPrefix(f, "http://") || strings.HasPrefix(f, "https://") {
				out = append(out, f)
			}
		}
	}
	return out
}
