package identity_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/identity"
)

// noFollow is a client that shows redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type hop struct {
	status   int
	location string
	cookie   string // the state cookie set, if any
	body     []byte
}

func get(t *testing.T, u, cookie string) hop {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: identity.StateCookie, Value: cookie})
	}
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	h := hop{status: res.StatusCode, location: res.Header.Get("Location"), body: b}
	for _, c := range res.Cookies() {
		if c.Name == identity.StateCookie && c.MaxAge > 0 {
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode {
				t.Fatalf("state cookie attributes: %+v", c)
			}
			h.cookie = c.Value
		}
	}
	return h
}

// begin starts a flow and follows the provider's redirect, returning the
// callback URL (with code and state) and the state cookie.
func begin(t *testing.T, e *apptest.Env, provider string) (callback, cookie string) {
	t.Helper()
	start := get(t, e.Server.URL+"/v1/auth/oauth/"+provider+"/start", "")
	if start.status != http.StatusFound || start.cookie == "" {
		t.Fatalf("start: %d %s", start.status, start.body)
	}
	au, _ := url.Parse(start.location)
	if au.Query().Get("code_challenge_method") != "S256" || au.Query().Get("code_challenge") == "" {
		t.Fatalf("no PKCE in %s", start.location)
	}
	at := get(t, start.location, "")
	if at.status != http.StatusFound || !strings.HasPrefix(at.location, e.Server.URL) {
		t.Fatalf("provider authorize: %d %s %s", at.status, at.location, at.body)
	}
	return at.location, start.cookie
}

type signedIn struct {
	Token string         `json:"token"`
	User  identity.User  `json:"user"`
	Raw   map[string]any `json:"-"`
}

func finish(t *testing.T, callback, cookie string, want int) signedIn {
	t.Helper()
	h := get(t, callback, cookie)
	if h.status != want {
		t.Fatalf("callback: %d, want %d: %s", h.status, want, h.body)
	}
	var out signedIn
	_ = json.Unmarshal(h.body, &out)
	return out
}

func withGoogle(t *testing.T) (*apptest.Env, *mockoidc.MockOIDC) {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	e := newEnv(t)
	c := m.Config()
	e.App.Identity.Use(identity.WithProviders(identity.NewOIDCProvider("google", m.Issuer(), m.JWKSEndpoint(),
		oauth2.Endpoint{AuthURL: m.AuthorizationEndpoint(), TokenURL: m.TokenEndpoint(), AuthStyle: oauth2.AuthStyleInParams},
		c.ClientID, c.ClientSecret, e.Server.URL+"/v1/auth/oauth/google/callback")))
	return e, m
}

// TestOAuthGoogleSignIn: the full OIDC code flow with PKCE against
// mockoidc creates a verified account, signs the same subject into it
// again, and links by verified email to an existing account.
func TestOAuthGoogleSignIn(t *testing.T) {
	e, m := withGoogle(t)
	m.QueueUser(&mockoidc.MockUser{Subject: "g-1", Email: "Grace@Example.com", EmailVerified: true})
	cb, ck := begin(t, e, "google")
	first := finish(t, cb, ck, http.StatusOK)
	if !first.User.EmailVerified || first.User.Email != "Grace@Example.com" {
		t.Fatalf("new user %+v", first.User)
	}
	e.Must(http.StatusOK, "GET", "/v1/auth/me", first.Token, nil)
	if count(t, e, `SELECT count(*) FROM users WHERE password_hash IS NULL`) != 1 {
		t.Fatal("OAuth user has a password")
	}

	m.QueueUser(&mockoidc.MockUser{Subject: "g-1", Email: "grace@example.com", EmailVerified: true})
	cb, ck = begin(t, e, "google")
	if again := finish(t, cb, ck, http.StatusOK); again.User.ID != first.User.ID {
		t.Fatal("same subject, different user")
	}

	// Linking to an existing, verified password account by email.
	_, uid := e.User("ada@example.com")
	m.QueueUser(&mockoidc.MockUser{Subject: "g-2", Email: "ADA@example.com", EmailVerified: true})
	cb, ck = begin(t, e, "google")
	if linked := finish(t, cb, ck, http.StatusOK); linked.User.ID.String() != uid {
		t.Fatalf("linked to %s, want %s", linked.User.ID, uid)
	}
	e.Must(http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": pw})
	if n := count(t, e, `SELECT count(*) FROM users`); n != 2 {
		t.Fatalf("%d users", n)
	}
}

// TestOAuthPreHijack: an attacker who signed up with the victim's address
// (never verified) loses the account's password and sessions when the
// victim signs in with a provider that verified the address.
func TestOAuthPreHijack(t *testing.T) {
	e, m := withGoogle(t)
	squat, uid := e.UnverifiedUser("victim@example.com")
	m.QueueUser(&mockoidc.MockUser{Subject: "g-v", Email: "victim@example.com", EmailVerified: true})
	cb, ck := begin(t, e, "google")
	if got := finish(t, cb, ck, http.StatusOK); got.User.ID.String() != uid || !got.User.EmailVerified {
		t.Fatalf("victim signed into %+v", got.User)
	}
	e.Must(http.StatusUnauthorized, "GET", "/v1/auth/me", squat, nil)
	e.Must(http.StatusUnauthorized, "POST", "/v1/auth/login", "", map[string]string{"email": "victim@example.com", "password": pw})
}

// TestOAuthRejects: unverified provider email, state mismatch, missing
// cookie, replayed callback, a used code under a fresh state, an unknown
// provider.
func TestOAuthRejects(t *testing.T) {
	e, m := withGoogle(t)

	m.QueueUser(&mockoidc.MockUser{Subject: "g-u", Email: "u@example.com", EmailVerified: false})
	cb, ck := begin(t, e, "google")
	finish(t, cb, ck, http.StatusForbidden)
	if n := count(t, e, `SELECT count(*) FROM users`); n != 0 {
		t.Fatal("unverified provider email made an account")
	}

	cb, _ = begin(t, e, "google")
	_, other := begin(t, e, "google")
	finish(t, cb, other, http.StatusUnauthorized) // cookie of another flow
	finish(t, cb, "", http.StatusUnauthorized)    // no cookie
	cbu, _ := url.Parse(cb)
	q := cbu.Query()
	q.Set("state", "forged")
	cbu.RawQuery = q.Encode()
	finish(t, cbu.String(), "forged", http.StatusUnauthorized) // cookie and query agree on a state never issued

	cb, ck = begin(t, e, "google")
	finish(t, cb, ck, http.StatusOK)
	finish(t, cb, ck, http.StatusUnauthorized) // replay: the state is spent

	// The used code under a fresh, valid state: the provider refuses it.
	fresh, freshCookie := begin(t, e, "google")
	oldCode := mustQuery(t, cb, "code")
	fu, _ := url.Parse(fresh)
	fq := fu.Query()
	fq.Set("code", oldCode)
	fu.RawQuery = fq.Encode()
	finish(t, fu.String(), freshCookie, http.StatusUnauthorized)

	// Expired state.
	cb, ck = begin(t, e, "google")
	exec(t, e, `UPDATE oauth_states SET expires_at = now() - interval '1 second'`)
	finish(t, cb, ck, http.StatusUnauthorized)

	if h := get(t, e.Server.URL+"/v1/auth/oauth/myspace/start", ""); h.status != http.StatusNotFound {
		t.Fatalf("unknown provider: %d", h.status)
	}
	// The state is stored only as its SHA-256.
	if count(t, e, `SELECT count(*) FROM oauth_states WHERE state_hash = sha256($1::bytea)`, []byte(ck)) != 1 {
		t.Fatal("state not stored as SHA-256")
	}
}

func mustQuery(t *testing.T, u, k string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil || p.Query().Get(k) == "" {
		t.Fatalf("no %s in %s", k, u)
	}
	return p.Query().Get(k)
}

// gitHub is a GitHub-shaped OAuth server: authorize, access_token (code
// single-use, PKCE S256 checked), /user and /user/emails.
type gitHub struct {
	*httptest.Server
	mu     sync.Mutex
	next   ghUser
	codes  map[string]ghGrant
	tokens map[string]ghUser
}

type ghUser struct {
	ID       int64
	Email    string
	Verified bool
}

type ghGrant struct {
	user      ghUser
	challenge string
	used      bool
}

func newGitHub(t *testing.T) *gitHub {
	g := &gitHub{codes: map[string]ghGrant{}, tokens: map[string]ghUser{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "gh-client" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
			http.Error(w, "bad authorize request", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		code := fmt.Sprintf("code-%d", len(g.codes))
		g.codes[code] = ghGrant{user: g.next, challenge: q.Get("code_challenge")}
		g.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		grant, found := g.codes[r.PostForm.Get("code")]
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		w.Header().Set("Content-Type", "application/json")
		if id != "gh-client" || secret != "gh-secret" || !found || grant.used ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != grant.challenge {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"bad_verification_code"}`))
			return
		}
		grant.used = true
		g.codes[r.PostForm.Get("code")] = grant
		tok := fmt.Sprintf("gho_%d", len(g.tokens))
		g.tokens[tok] = grant.user
		_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"bearer","scope":"read:user,user:email"}`, tok)
	})
	user := func(r *http.Request) (ghUser, bool) {
		g.mu.Lock()
		defer g.mu.Unlock()
		u, ok := g.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		return u, ok
	}
	mux.HandleFunc("GET /user", func(w http.ResponseWriter, r *http.Request) {
		u, ok := user(r)
		if !ok {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		_, _ = fmt.Fprintf(w, `{"id":%d,"login":"octo","email":null}`, u.ID)
	})
	mux.HandleFunc("GET /user/emails", func(w http.ResponseWriter, r *http.Request) {
		u, ok := user(r)
		if !ok {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
		_, _ = fmt.Fprintf(w, `[{"email":"other@example.com","primary":false,"verified":true},{"email":%q,"primary":true,"verified":%t}]`, u.Email, u.Verified)
	})
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Close)
	return g
}

// TestOAuthGitHub: the GitHub-shaped flow (not OIDC) with PKCE; the primary
// address must be verified; replay fails.
func TestOAuthGitHub(t *testing.T) {
	g := newGitHub(t)
	e := newEnv(t)
	e.App.Identity.Use(identity.WithProviders(identity.NewGitHubProvider("github",
		oauth2.Endpoint{AuthURL: g.URL + "/login/oauth/authorize", TokenURL: g.URL + "/login/oauth/access_token"},
		g.URL, "gh-client", "gh-secret", e.Server.URL+"/v1/auth/oauth/github/callback")))

	g.next = ghUser{ID: 42, Email: "octo@example.com", Verified: true}
	cb, ck := begin(t, e, "github")
	got := finish(t, cb, ck, http.StatusOK)
	if got.User.Email != "octo@example.com" || !got.User.EmailVerified {
		t.Fatalf("github user %+v", got.User)
	}
	finish(t, cb, ck, http.StatusUnauthorized)

	g.next = ghUser{ID: 43, Email: "unverified@example.com", Verified: false}
	cb, ck = begin(t, e, "github")
	finish(t, cb, ck, http.StatusForbidden)
	if n := count(t, e, `SELECT count(*) FROM users`); n != 1 {
		t.Fatalf("%d users", n)
	}
	// A GitHub identity never verifies a disposable address into an account.
	g.next = ghUser{ID: 44, Email: "x@mailinator.com", Verified: true}
	cb, ck = begin(t, e, "github")
	finish(t, cb, ck, http.StatusBadRequest)
}
