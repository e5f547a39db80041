// Package pages serves the few HTML pages people land on from mail and
// release links: verify email, reset password, magic-link sign-in, accept an
// invitation, OAuth completion, sessions, sign-up and sign-in, and the public
// "verify a release" page. They are small static HTML plus one same-origin
// script, under a strict Content-Security-Policy, with no third-party
// assets. Tokens arrive in the URL fragment (never sent to a server, never
// logged); the page removes them from the address bar and posts them to
// the JSON API only when the person clicks.
package pages

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/framebroker/framebroker/shared/guard"
)

//go:embed static
var static embed.FS

//go:embed templates/*.html
var templates embed.FS

// CSP is the Content-Security-Policy of every page: scripts, styles and
// requests only to this origin, nothing framed, no plugins, no inline code.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// AssetPrefix is where the pages' script and style are served.
const AssetPrefix = "/assets/pages/"

// Page is one served page.
type Page struct {
	Path  string // e.g. /verify-email
	Name  string // template name and data-page value
	Title string
	// Function is the Lambda serving it in AWS (pages live beside the
	// routes they call).
	Function string
}

// List is every page. Mailed links point at the first six.
var List = []Page{
	{"/verify-email", "verify-email", "Verify your email", "auth"},
	{"/reset-password", "reset-password", "Reset your password", "auth"},
	{"/magic-link", "magic-link", "Sign in with a link", "auth"},
	{"/accept-invitation", "accept-invitation", "Accept an invitation", "auth"},
	{"/oauth-complete", "oauth-complete", "Signing you in", "auth"},
	{"/sessions", "sessions", "Your sessions", "auth"},
	{"/login", "login", "Sign in", "auth"},
	{"/signup", "signup", "Create an account", "auth"},
	{"/verify", "verify", "Verify a release", "provenance"},
}

// Routes are GET routes for every page and their assets, all public.
func Routes() ([]guard.Route, error) {
	tmpl, err := template.ParseFS(templates, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	assets, err := loadAssets()
	if err != nil {
		return nil, err
	}
	var rs []guard.Route
	for _, p := range List {
		var buf bytes.Buffer
		data := struct {
			Page
			Assets map[string]string
		}{p, assets.versions}
		t, err := tmpl.Clone()
		if err == nil {
			_, err = t.New("content").Parse(`{{template "` + p.Name + `" .}}`)
		}
		if err == nil {
			err = t.ExecuteTemplate(&buf, "layout", data)
		}
		if err != nil {
			return nil, fmt.Errorf("pages: %s: %w", p.Name, err)
		}
		body := buf.Bytes()
		rs = append(rs, guard.Route{Method: "GET", Pattern: p.Path, Policy: guard.Public(), Function: p.Function,
			Summary: "Page: " + p.Title, ReplyType: "text/html",
			Handler: func(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
				secure(w.Header())
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.Header().Set("Cache-Control", "no-store")
				_, _ = w.Write(body)
				return nil
			}})
	}
	for _, name := range slices.Sorted(maps.Keys(assets.files)) {
		a := assets.files[name]
		mt, _, _ := strings.Cut(a.contentType, ";")
		rs = append(rs, guard.Route{Method: "GET", Pattern: AssetPrefix + name, Policy: guard.Public(), Function: "auth",
			Summary: "Pages asset " + name, ReplyType: mt, Handler: a.serve})
	}
	return rs, nil
}

// secure sets the headers every page and asset carries.
func secure(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

type asset struct {
	body        []byte
	contentType string
}

type assetSet struct {
	files    map[string]asset
	versions map[string]string // file → short content hash, for cache busting
}

func loadAssets() (assetSet, error) {
	set := assetSet{files: map[string]asset{}, versions: map[string]string{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		ct := "application/octet-stream"
		switch path.Ext(p) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		}
		name := path.Base(p)
		sum := sha256.Sum256(b)
		set.files[name] = asset{b, ct}
		set.versions[strings.NewReplacer(".", "_").Replace(name)] = hex.EncodeToString(sum[:6])
		return nil
	})
	return set, err
}

func (a asset) serve(w http.ResponseWriter, _ *http.Request, _ *guard.Access) error {
	secure(w.Header())
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(a.body)
	return nil
}
