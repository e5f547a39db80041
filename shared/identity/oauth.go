package identity

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/framebroker/framebroker/shared/db"
	"github.com/framebroker/framebroker/shared/id"
	"github.com/framebroker/framebroker/shared/problem"
)

// OAuthStateTTL bounds how long a user may take at the provider.
const OAuthStateTTL = 10 * time.Minute

// StateCookie carries the OAuth state in the browser that started the
// flow; the callback requires it to match the state in the query, which
// stops login CSRF (a victim's browser completing an attacker's flow).
const StateCookie = "fb_oauth_state"

// ExternalIdentity is what a provider vouches for.
type ExternalIdentity struct {
	Subject       string
	Email         string
	EmailVerified bool
}

// Provider is an OAuth 2.0 sign-in provider: either OpenID Connect (the ID
// token is verified with go-oidc) or GitHub-shaped (identity read from the
// REST API with the access token).
type Provider struct {
	Name   string
	OAuth2 oauth2.Config
	// HTTPClient is used for the token exchange and API calls; nil uses
	// http.DefaultClient.
	HTTPClient *http.Client
	verifier   *oidc.IDTokenVerifier
	apiURL     string
}

// NewOIDCProvider is an OpenID Connect provider with fixed endpoints (no
// discovery call at start-up): the ID token's signature (keys from jwksURL),
// issuer, audience, expiry and nonce are checked.
func NewOIDCProvider(name, issuer, jwksURL string, endpoint oauth2.Endpoint, clientID, clientSecret, redirectURL string) *Provider {
	keys := oidc.NewRemoteKeySet(context.Background(), jwksURL)
	return &Provider{
		Name: name,
		OAuth2: oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, Endpoint: endpoint,
			RedirectURL: redirectURL, Scopes: []string{oidc.ScopeOpenID, "email"}},
		verifier: oidc.NewVerifier(issuer, keys, &oidc.Config{ClientID: clientID}),
	}
}

// Google is sign-in with Google (OpenID Connect).
func Google(clientID, clientSecret, redirectURL string) *Provider {
	return NewOIDCProvider("google", "https://accounts.google.com", "https://www.googleapis.com/oauth2/v3/certs",
		oauth2.Endpoint{AuthURL: "https://accounts.google.com/o/oauth2/v2/auth", TokenURL: "https://oauth2.googleapis.com/token"},
		clientID, clientSecret, redirectURL)
}

// NewGitHubProvider is a GitHub-shaped provider at the given endpoints:
// plain OAuth 2.0 (GitHub is not OpenID Connect), identity from
// GET {apiURL}/user and the verified primary address from
// GET {apiURL}/user/emails.
func NewGitHubProvider(name string, endpoint oauth2.Endpoint, apiURL, clientID, clientSecret, redirectURL string) *Provider {
	return &Provider{
		Name: name,
		OAuth2: oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, Endpoint: endpoint,
			RedirectURL: redirectURL, Scopes: []string{"read:user", "user:email"}},
		apiURL: strings.TrimRight(apiURL, "/"),
	}
}

// GitHub is sign-in with GitHub.
func GitHub(clientID, clientSecret, redirectURL string) *Provider {
	return NewGitHubProvider("github",
		oauth2.Endpoint{AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token"},
		"https://api.github.com", clientID, clientSecret, redirectURL)
}

func (p *Provider) ctx(ctx context.Context) context.Context {
	if p.HTTPClient != nil {
		return context.WithValue(ctx, oauth2.HTTPClient, p.HTTPClient)
	}
	return ctx
}

// identity exchanges code (with the PKCE verifier) and returns who the user
// is at the provider.
func (p *Provider) identity(ctx context.Context, code, verifier, nonce string) (ExternalIdentity, error) {
	ctx = p.ctx(ctx)
	tok, err := p.OAuth2.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return ExternalIdentity{}, fmt.Errorf("code exchange: %w", err)
	}
	if p.verifier != nil {
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			return ExternalIdentity{}, errors.New("no id_token in the token response")
		}
		idt, err := p.verifier.Verify(ctx, raw)
		if err != nil {
			return ExternalIdentity{}, fmt.Errorf("id token: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
			return ExternalIdentity{}, errors.New("id token nonce mismatch")
		}
		var c struct {
			Email         string `json:"email"`
			EmailVerified any    `json:"email_verified"` // bool, or "true" from some issuers
		}
		if err := idt.Claims(&c); err != nil {
			return ExternalIdentity{}, fmt.Errorf("id token claims: %w", err)
		}
		verified := c.EmailVerified == true || c.EmailVerified == "true"
		return ExternalIdentity{Subject: idt.Subject, Email: c.Email, EmailVerified: verified}, nil
	}
	return p.githubIdentity(ctx, tok)
}

func (p *Provider) githubIdentity(ctx context.Context, tok *oauth2.Token) (ExternalIdentity, error) {
	client := p.OAuth2.Client(ctx, tok)
	var user struct {
		ID int64 `json:"id"`
	}
	if err := getJSON(ctx, client, p.apiURL+"/user", &user); err != nil {
		return ExternalIdentity{}, err
	}
	if user.ID == 0 {
		return ExternalIdentity{}, errors.New("github user without id")
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := getJSON(ctx, client, p.apiURL+"/user/emails", &emails); err != nil {
		return ExternalIdentity{}, err
	}
	out := ExternalIdentity{Subject: strconv.FormatInt(user.ID, 10)}
	for _, e := range emails {
		if e.Primary {
			out.Email, out.EmailVerified = e.Email, e.Verified
		}
	}
	return out, nil
}

func getJSON(ctx context.Context, c *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("provider api: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("provider api %s: status %d", url, res.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(v)
}

func (s *Service) provider(op, name string) (*Provider, error) {
	p, ok := s.providers[name]
	if !ok {
		return nil, problem.E(op, problem.NotFound, "no such sign-in provider")
	}
	return p, nil
}

// StartOAuth begins sign-in with provider: it stores a fresh state (as
// SHA-256), PKCE verifier and nonce, and returns the provider URL to send
// the browser to and the state for the browser's cookie.
func (s *Service) StartOAuth(ctx context.Context, provider string) (authURL, state string, err error) {
	const op = "identity.StartOAuth"
	p, err := s.provider(op, provider)
	if err != nil {
		return "", "", err
	}
	state, stateSum, err := newSecret("")
	if err != nil {
		return "", "", problem.Wrap(op, problem.Internal, err)
	}
	nonce, _, err := newSecret("")
	if err != nil {
		return "", "", problem.Wrap(op, problem.Internal, err)
	}
	verifier := oauth2.GenerateVerifier()
	_, err = s.pool.Exec(ctx,
		`INSERT INTO oauth_states (state_hash, provider, code_verifier, nonce, expires_at) VALUES ($1, $2, $3, $4, now() + $5 * interval '1 microsecond')`,
		stateSum, p.Name, verifier, nonce, OAuthStateTTL.Microseconds())
	if err != nil {
		return "", "", problem.Wrap(op, problem.Internal, err)
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if p.verifier != nil {
		opts = append(opts, oauth2.SetAuthURLParam("nonce", nonce))
	}
	return p.OAuth2.AuthCodeURL(state, opts...), state, nil
}

var errOAuthState = problem.E("identity.FinishOAuth", problem.Unauthenticated,
	"sign-in request is invalid, expired or already used; start again")

// FinishOAuth completes sign-in: the state must equal the browser's cookie
// and name an unused, unexpired request for this provider (it is spent
// now, so a replayed callback fails); the code is exchanged with the PKCE
// verifier; the provider must vouch that the email is verified. The
// identity is then found, linked to the account with the same canonical
// email, or made into a new account, and a session is opened.
func (s *Service) FinishOAuth(ctx context.Context, provider, state, cookie, code, userAgent string) (string, User, error) {
	const op = "identity.FinishOAuth"
	p, err := s.provider(op, provider)
	if err != nil {
		return "", User{}, err
	}
	if state == "" || code == "" || subtle.ConstantTimeCompare([]byte(state), []byte(cookie)) != 1 {
		return "", User{}, errOAuthState
	}
	var verifier, nonce string
	err = s.pool.QueryRow(ctx, `
		UPDATE oauth_states SET used_at = now()
		WHERE state_hash = $1 AND provider = $2 AND used_at IS NULL AND expires_at > now()
		RETURNING code_verifier, nonce`, digest(state), p.Name).Scan(&verifier, &nonce)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", User{}, errOAuthState
	}
	if err != nil {
		return "", User{}, problem.Wrap(op, problem.Internal, err)
	}
	ext, err := p.identity(ctx, code, verifier, nonce)
	if err != nil {
		return "", User{}, &problem.Error{Op: op, Kind: problem.Unauthenticated, Err: err,
			Detail: "the provider did not confirm this sign-in; start again"}
	}
	if !ext.EmailVerified || ext.Email == "" {
		return "", User{}, problem.ProviderEmailUnverified.E(op,
			"your "+p.Name+" account has no verified email address; verify it there and sign in again")
	}
	var tok string
	var u User
	err = db.Tx(ctx, s.pool, func(tx pgx.Tx) error {
		uid, err := s.linkIdentity(ctx, tx, p.Name, ext)
		if err != nil {
			return err
		}
		// A redirect carries no second factor: accounts with TOTP sign in
		// with password or magic link plus a code instead.
		if _, err := s.secondFactor(ctx, tx, uid, Factor{}); errors.Is(err, errFactorNeeded) {
			return errOAuthTOTP
		} else if err != nil {
			return err
		}
		if u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, uid)); err != nil {
			return err
		}
		tok, err = s.openSession(ctx, tx, uid, userAgent)
		return err
	})
	if err != nil {
		return "", User{}, problem.Wrap(op, problem.Internal, err)
	}
	return tok, u, nil
}

var errOAuthTOTP = problem.E("identity.FinishOAuth", problem.Unauthenticated,
	"this account has two-factor authentication: sign in with email, password and code, or a magic link and code")

// linkIdentity returns the user of a provider identity, linking or creating
// it. Linking is by verified email only (the caller checked the provider's
// flag). If the existing account's own email was never verified, whoever
// made it did not prove the address: its password and sessions are wiped
// so a squatter who pre-registered the victim's email keeps nothing.
func (s *Service) linkIdentity(ctx context.Context, tx pgx.Tx, provider string, ext ExternalIdentity) (id.UserID, error) {
	const op = "identity.linkIdentity"
	var uid id.UserID
	err := tx.QueryRow(ctx, `SELECT user_id FROM oauth_identities WHERE provider = $1 AND subject = $2`, provider, ext.Subject).Scan(&uid)
	if err == nil {
		return uid, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return uid, err
	}
	canon, err := s.canonical(op, ext.Email)
	if err != nil {
		return uid, err
	}
	var verified bool
	err = tx.QueryRow(ctx, `SELECT id, email_verified_at IS NOT NULL FROM users WHERE email_canonical = $1 FOR UPDATE`, canon).Scan(&uid, &verified)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if s.blocklist.Blocks(canon) {
			return uid, problem.Field(op, "email", "disposable email addresses are not accepted; use a permanent address")
		}
		uid = id.New[id.UserID]()
		if _, err := tx.Exec(ctx, `INSERT INTO users (id, email, email_canonical, email_verified_at) VALUES ($1, $2, $3, now())`,
			uid, strings.TrimSpace(ext.Email), canon); err != nil {
			return uid, err
		}
	case err != nil:
		return uid, err
	case !verified:
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = NULL, email_verified_at = now(), password_changed_at = clock_timestamp() WHERE id = $1`, uid); err != nil {
			return uid, err
		}
		if err := revokeAll(ctx, tx, uid); err != nil {
			return uid, err
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO oauth_identities (provider, subject, user_id, email) VALUES ($1, $2, $3, $4)`,
		provider, ext.Subject, uid, ext.Email)
	return uid, err
}
