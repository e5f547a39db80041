package identity

import (
	"bytes"
	"context"
	htmltemplate "html/template"
	"net/url"
	texttemplate "text/template"

	"github.com/jackc/pgx/v5"

	"github.com/framebroker/framebroker/shared/mail"
	"github.com/framebroker/framebroker/shared/problem"
)

// template is one transactional email, in plain text and HTML. Both bodies
// see {{.Link}}.
type template struct {
	subject string
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

func newTemplate(subject, text, html string) template {
	return template{
		subject: subject,
		text:    texttemplate.Must(texttemplate.New(subject).Parse(text)),
		html:    htmltemplate.Must(htmltemplate.New(subject).Parse(`<!doctype html><html><body style="font-family:sans-serif">` + html + `</body></html>`)),
	}
}

var (
	tmplVerify = newTemplate("Verify your Framebroker email address",
		"Confirm this address to finish setting up your Framebroker account:\n\n{{.Link}}\n\nThe link works once and expires in 24 hours. If you did not sign up, ignore this email.\n",
		`<p>Confirm this address to finish setting up your Framebroker account:</p><p><a href="{{.Link}}">Verify my email</a></p><p>The link works once and expires in 24 hours. If you did not sign up, ignore this email.</p>`)
	tmplSignupExisting = newTemplate("Someone tried to sign up with your email",
		"Someone (maybe you) tried to create a Framebroker account with this address, which already has one. No new account was made.\n\nLog in here: {{.Link}}\n\nForgot your password? Use \"Reset password\" on the login page.\n",
		`<p>Someone (maybe you) tried to create a Framebroker account with this address, which already has one. No new account was made.</p><p><a href="{{.Link}}">Log in</a></p><p>Forgot your password? Use “Reset password” on the login page.</p>`)
	tmplReset = newTemplate("Reset your Framebroker password",
		"Set a new password with this link:\n\n{{.Link}}\n\nIt works once and expires in 30 minutes. Setting a new password signs out every session. If you did not ask for this, ignore this email.\n",
		`<p>Set a new password with this link:</p><p><a href="{{.Link}}">Reset my password</a></p><p>It works once and expires in 30 minutes. Setting a new password signs out every session. If you did not ask for this, ignore this email.</p>`)
	tmplResetNoAccount = newTemplate("Reset your Framebroker password",
		"Someone (maybe you) asked to reset the Framebroker password of this address, but no account uses it.\n\nTo create one: {{.Link}}\n\nIf you did not ask for this, ignore this email.\n",
		`<p>Someone (maybe you) asked to reset the Framebroker password of this address, but no account uses it.</p><p><a href="{{.Link}}">Create an account</a></p><p>If you did not ask for this, ignore this email.</p>`)
	tmplMagic = newTemplate("Your Framebroker sign-in link",
		"Sign in to Framebroker with this link:\n\n{{.Link}}\n\nIt works once and expires in 30 minutes. If you did not ask for this, ignore this email.\n",
		`<p>Sign in to Framebroker with this link:</p><p><a href="{{.Link}}">Sign in</a></p><p>It works once and expires in 30 minutes. If you did not ask for this, ignore this email.</p>`)
	tmplMagicNoAccount = newTemplate("Your Framebroker sign-in link",
		"Someone (maybe you) asked for a Framebroker sign-in link for this address, but no account uses it.\n\nTo create one: {{.Link}}\n\nIf you did not ask for this, ignore this email.\n",
		`<p>Someone (maybe you) asked for a Framebroker sign-in link for this address, but no account uses it.</p><p><a href="{{.Link}}">Create an account</a></p><p>If you did not ask for this, ignore this email.</p>`)
)

// link is a URL of the web app; a token travels in the fragment, which
// browsers never send to servers or in Referer headers.
func (s *Service) link(path, token string) string {
	u := s.publicURL + path
	if token != "" {
		u += "#token=" + url.QueryEscape(token)
	}
	return u
}

// send renders t with link and puts it, for one address, in the mail
// outbox in tx: it is delivered after tx commits (right after, then by
// the outbox cron until it goes through) and never if tx rolls back.
func (s *Service) send(ctx context.Context, tx pgx.Tx, to string, t template, link string) error {
	const op = "identity.send"
	data := struct{ Link string }{link}
	var text, html bytes.Buffer
	if err := t.text.Execute(&text, data); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := t.html.Execute(&html, data); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	if err := s.mail.Enqueue(ctx, tx, mail.Message{To: []string{to}, Subject: t.subject, Text: text.String(), HTML: html.String()}); err != nil {
		return problem.Wrap(op, problem.Internal, err)
	}
	return nil
}
