// Package identitywire builds identity's options from a process's
// configuration. It is wiring: identity (a domain package) does not import
// config; the API and the authorizer Lambda both use this.
package identitywire

import (
	"strings"

	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/mail"
)

// FromConfig is the options a process's configuration implies (mail goes
// through the App's outbox, wired in app.newCore): the public URL mailed links point to, the
// TOTP sealing key, and
// the OAuth providers whose client ids are set.
func FromConfig(cfg config.Config) []identity.Option {
	opts := []identity.Option{identity.WithPublicURL(cfg.PublicURL), identity.WithTOTPKey(cfg.TOTPKey)}
	callback := func(name string) string {
		return strings.TrimRight(cfg.APIURL, "/") + "/v1/auth/oauth/" + name + "/callback"
	}
	var ps []*identity.Provider
	if cfg.GoogleClientID != "" {
		ps = append(ps, identity.Google(cfg.GoogleClientID, cfg.GoogleClientSecret, callback("google")))
	}
	if cfg.GitHubClientID != "" {
		ps = append(ps, identity.GitHub(cfg.GitHubClientID, cfg.GitHubClientSecret, callback("github")))
	}
	return append(opts, identity.WithProviders(ps...))
}

// MailerFromConfig is the process's mail sender: SMTP when SMTPAddr is set,
// otherwise mail.Discard (mail is dropped and logged).
func MailerFromConfig(cfg config.Config) mail.Sender {
	if cfg.SMTPAddr == "" {
		return mail.Discard{}
	}
	return mail.SMTP{Addr: cfg.SMTPAddr, From: cfg.MailFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword}
}
