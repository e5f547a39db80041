package identity

import (
	"strings"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/mail"
)

// FromConfig is the options a process's configuration implies: the SMTP
// sender (when SMTPAddr is set), the public URL mailed links point to, the
// TOTP sealing key, and
// the OAuth providers whose client ids are set.
func FromConfig(cfg config.Config) []Option {
	opts := []Option{WithPublicURL(cfg.PublicURL), WithTOTPKey(cfg.TOTPKey)}
	if cfg.SMTPAddr != "" {
		opts = append(opts, WithMailer(MailerFromConfig(cfg)))
	}
	callback := func(name string) string {
		return strings.TrimRight(cfg.APIURL, "/") + "/v1/auth/oauth/" + name + "/callback"
	}
	var ps []*Provider
	if cfg.GoogleClientID != "" {
		ps = append(ps, Google(cfg.GoogleClientID, cfg.GoogleClientSecret, callback("google")))
	}
	if cfg.GitHubClientID != "" {
		ps = append(ps, GitHub(cfg.GitHubClientID, cfg.GitHubClientSecret, callback("github")))
	}
	return append(opts, WithProviders(ps...))
}

// MailerFromConfig is the process's mail sender: SMTP when SMTPAddr is set,
// otherwise mail.Discard (mail is dropped and logged).
func MailerFromConfig(cfg config.Config) mail.Sender {
	if cfg.SMTPAddr == "" {
		return mail.Discard{}
	}
	return mail.SMTP{Addr: cfg.SMTPAddr, From: cfg.MailFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword}
}
