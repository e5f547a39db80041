package pages_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/identity"
	"github.com/framebroker/framebroker/shared/problem"
)

// browser starts headless Chromium (Debian's package, from
// scripts/install.sh) with a fresh profile and returns a tab. When the test
// fails, a screenshot of the tab is kept under .local/test/screenshots.
func browser(t *testing.T) context.Context {
	t.Helper()
	var bin string
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("FRAMEBROKER_REQUIRE_STACK") == "1" {
			t.Fatal("chromium is not installed: run scripts/install.sh")
		}
		t.Skip("chromium is not installed: run scripts/install.sh")
	}
	// Not t.TempDir: Chromium's helpers may still be writing the profile
	// when the test ends; it is removed after the browser is stopped.
	profile, err := os.MkdirTemp("", "fb-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(390, 844), // a phone
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelC()
		cancelA()
		for range 20 { // the profile's last writers exit within moments
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var png []byte
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Run(sctx, chromedp.FullScreenshot(&png, 80)); err != nil {
			t.Logf("screenshot: %v", err)
			return
		}
		dir := screenshotDir()
		_ = os.MkdirAll(dir, 0o755)
		file := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".jpg")
		if err := os.WriteFile(file, png, 0o644); err == nil {
			t.Logf("screenshot of the failing page: %s", file)
		}
	})
	return ctx
}

// screenshotDir is .local/test/screenshots of the checkout (or the temp dir).
func screenshotDir() string {
	wd, _ := os.Getwd()
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, ".local", "test", "screenshots")
		}
	}
	return filepath.Join(os.TempDir(), "framebroker-screenshots")
}

// run runs actions in the tab. The deadline is a safety net against a
// hang, not a speed requirement: each step waits for what it needs.
func run(t *testing.T, ctx context.Context, actions ...chromedp.Action) {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Run(rctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// open loads url as a new document, even when only its fragment differs
// from the current one (as a click on a mailed link does).
func open(url string) chromedp.Action {
	return chromedp.Tasks{chromedp.Navigate("about:blank"), chromedp.Navigate(url)}
}

// statusText waits until #status has a class (the page's answer) and
// returns its text and class.
func statusText(t *testing.T, ctx context.Context) (text, class string) {
	t.Helper()
	run(t, ctx,
		chromedp.WaitVisible(`#status.good, #status.bad`, chromedp.ByQuery),
		chromedp.Text(`#status`, &text, chromedp.ByQuery),
		chromedp.AttributeValue(`#status`, "class", &class, nil, chromedp.ByQuery),
	)
	return text, class
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+#token=[A-Za-z0-9_%-]+`)

// mailLink waits for the n-th caught message and returns its link.
func mailLink(t *testing.T, e *apptest.Env, n int) string {
	t.Helper()
	msgs := e.Mail.Wait(n, 10*time.Second)
	if len(msgs) < n {
		t.Fatalf("%d messages caught, want %d", len(msgs), n)
	}
	body := strings.ReplaceAll(strings.ReplaceAll(string(msgs[n-1].Data), "=\r\n", ""), "=3D", "=")
	link := linkRE.FindString(body)
	if link == "" {
		t.Fatalf("no link in mail %d:\n%s", n, body)
	}
	return link
}

const pw = "correct horse battery"

// TestSignUpVerifyEmailInBrowser: sign up on the page, open the caught
// mail's link, click: the address is verified (and the API agrees). The
// token left the address bar, and a second click on the spent link is
// refused on the page.
func TestSignUpVerifyEmailInBrowser(t *testing.T) {
	e := apptest.New(t)
	ctx := browser(t)
	run(t, ctx,
		chromedp.Navigate(e.Server.URL+"/signup"),
		chromedp.SendKeys(`#email`, "ada@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, pw, chromedp.ByQuery),
		chromedp.Click(`#signup-form button`, chromedp.ByQuery),
	)
	if text, class := statusText(t, ctx); class != "good" || !strings.Contains(text, "ada@example.com") {
		t.Fatalf("signup page says %q (%s)", text, class)
	}
	link := mailLink(t, e, 1)
	if !strings.HasPrefix(link, e.Server.URL+"/verify-email#token=") {
		t.Fatalf("mail links to %s", link)
	}
	var url string
	run(t, ctx, open(link), chromedp.WaitVisible(`#go`, chromedp.ByQuery), chromedp.Location(&url))
	if strings.Contains(url, "token") {
		t.Fatalf("token still in the address bar: %s", url)
	}
	run(t, ctx, chromedp.Click(`#go`, chromedp.ByQuery))
	if text, class := statusText(t, ctx); class != "good" || !strings.Contains(text, "is verified") {
		t.Fatalf("verify page says %q (%s)", text, class)
	}
	tok := e.Must(200, "POST", "/v1/auth/login", "", map[string]string{"email": "ada@example.com", "password": pw}).Str("token")
	var me struct {
		User struct {
			EmailVerified bool `json:"email_verified"`
		} `json:"user"`
	}
	if err := json.Unmarshal(e.Must(200, "GET", "/v1/auth/me", tok, nil).Body, &me); err != nil || !me.User.EmailVerified {
		t.Fatalf("API says not verified (%v)", err)
	}
	// The link is spent: the page says so.
	run(t, ctx, open(link), chromedp.WaitVisible(`#go`, chromedp.ByQuery), chromedp.Click(`#go`, chromedp.ByQuery))
	if text, class := statusText(t, ctx); class != "bad" || !strings.Contains(text, "did not work") {
		t.Fatalf("spent link: page says %q (%s)", text, class)
	}
}

// TestResetPasswordAndMagicLinkInBrowser: ask for a reset on the page,
// set a new password from the mailed link (signed in), sign in with the new
// password on the login page, then sign in by a mailed magic link and see
// the sessions page; "sign out everywhere" ends every session.
func TestResetPasswordAndMagicLinkInBrowser(t *testing.T) {
	e := apptest.New(t)
	e.User("grace@example.com")
	ctx := browser(t)
	n := len(e.Mail.Messages())

	run(t, ctx,
		chromedp.Navigate(e.Server.URL+"/reset-password"),
		chromedp.SendKeys(`#email`, "grace@example.com", chromedp.ByQuery),
		chromedp.Click(`#request-form button`, chromedp.ByQuery),
	)
	if text, class := statusText(t, ctx); class != "good" {
		t.Fatalf("reset request page says %q (%s)", text, class)
	}
	link := mailLink(t, e, n+1)
	const newPW = "a brand new long password"
	run(t, ctx,
		open(link),
		chromedp.WaitVisible(`#password`, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, newPW, chromedp.ByQuery),
		chromedp.Click(`#reset-form button[type=submit]`, chromedp.ByQuery),
	)
	if text, class := statusText(t, ctx); class != "good" || !strings.Contains(text, "grace@example.com") {
		t.Fatalf("reset page says %q (%s)", text, class)
	}
	e.Must(401, "POST", "/v1/auth/login", "", map[string]string{"email": "grace@example.com", "password": pw})

	// Sign in with the new password on the login page: it lands on sessions.
	run(t, ctx,
		chromedp.Navigate(e.Server.URL+"/login"),
		chromedp.SendKeys(`#email`, "grace@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, newPW, chromedp.ByQuery),
		chromedp.Click(`#login-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#session-box`, chromedp.ByQuery),
	)

	// Magic link, in a fresh page load.
	run(t, ctx,
		chromedp.Navigate(e.Server.URL+"/magic-link"),
		chromedp.SendKeys(`#email`, "grace@example.com", chromedp.ByQuery),
		chromedp.Click(`#request-form button`, chromedp.ByQuery),
	)
	if text, class := statusText(t, ctx); class != "good" {
		t.Fatalf("magic-link request page says %q (%s)", text, class)
	}
	link = mailLink(t, e, n+2)
	if !strings.Contains(link, "/magic-link#token=") {
		t.Fatalf("magic mail links to %s", link)
	}
	run(t, ctx,
		open(link),
		chromedp.WaitVisible(`#confirm-form button`, chromedp.ByQuery),
		chromedp.Click(`#confirm-form button[type=submit]`, chromedp.ByQuery),
	)
	if text, class := statusText(t, ctx); class != "good" || !strings.Contains(text, "signed in as grace@example.com") {
		t.Fatalf("magic-link page says %q (%s)", text, class)
	}
	var rows int
	run(t, ctx,
		chromedp.Navigate(e.Server.URL+"/sessions"),
		chromedp.WaitVisible(`#session-rows tr`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#session-rows tr').length`, &rows),
	)
	if rows < 3 { // reset, login, magic link
		t.Fatalf("sessions page lists %d sessions, want at least 3", rows)
	}
	run(t, ctx, chromedp.Click(`#signout-all`, chromedp.ByQuery))
	if text, class := statusText(t, ctx); class != "good" || !strings.Contains(text, "Signed out everywhere") {
		t.Fatalf("sessions page says %q (%s)", text, class)
	}
	var left int
	if err := e.DB.Owner.QueryRow(context.Background(),
		`SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = 'grace@example.com' AND s.revoked_at IS NULL`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d sessions still live after sign out everywhere", left)
	}
}

// TestOAuthCompletionPage: a browser finishing OAuth lands on the page
// with the session in the fragment; a failed one lands there with the
// refusal, never on JSON.
func TestOAuthCompletionPage(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("oauth@example.com")
	ctx := browser(t)
	run(t, ctx, open(e.Server.URL+"/oauth-complete#token="+tok))
	if text, class := statusText(t, ctx); class != "good" || !strings.Contains(text, "oauth@example.com") {
		t.Fatalf("oauth-complete says %q (%s)", text, class)
	}
	// A browser at the callback with a bad state is sent to the page.
	run(t, ctx, chromedp.Navigate(e.Server.URL+"/v1/auth/oauth/google/callback?state=forged&code=x"))
	var url string
	text, class := statusText(t, ctx)
	run(t, ctx, chromedp.Location(&url))
	if class != "bad" || !strings.HasPrefix(url, e.Server.URL+"/oauth-complete") || !strings.Contains(text, "did not work") {
		t.Fatalf("callback refusal: at %s, page says %q (%s)", url, text, class)
	}
}

// TestPagesHeaders: every page carries the strict CSP, loads nothing from
// another origin, and has no inline script.
func TestPagesHeaders(t *testing.T) {
	e := apptest.New(t)
	for _, p := range []string{"/verify-email", "/reset-password", "/magic-link", "/accept-invitation", "/oauth-complete", "/sessions", "/login", "/signup", "/verify"} {
		r := e.Must(200, "GET", p, "", nil)
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if r.Header.Get("Referrer-Policy") != "no-referrer" || r.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: referrer/frame headers %v", p, r.Header)
		}
		body := string(r.Body)
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(body) || regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(body) {
			t.Errorf("%s: inline script or another origin's asset", p)
		}
		if !strings.Contains(body, `lang="en"`) || !strings.Contains(body, `name="viewport"`) {
			t.Errorf("%s: no language or viewport", p)
		}
	}
}

// TestVerifyReleaseInBrowser: the verify page, given a published release's
// manifest and files, says verified and names every file; with one file
// changed by a byte it names that file, the expected and the actual
// SHA-256. Hashing streams (the incremental SHA-256) when forced to.
func TestVerifyReleaseInBrowser(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("vera@example.com")
	ws := e.Workspace(tok, "Verify studio")
	prj := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects", tok, map[string]string{"name": "P"}).Str("id")
	dir := t.TempDir()
	files := map[string][]byte{
		"sh010.mov": bytes.Repeat([]byte("frame-one "), 30000), // 300 kB
		"sh020.mov": bytes.Repeat([]byte{7}, 70),               // not a multiple of 64
	}
	var shots []string
	for _, name := range []string{"sh010.mov", "sh020.mov"} {
		shot := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects/"+prj+"/shots", tok, map[string]string{"name": strings.TrimSuffix(name, ".mov")}).Str("id")
		ast := e.UploadAsset(tok, ws, name, "application/octet-stream", files[name])
		e.Must(201, "POST", "/v1/workspaces/"+ws+"/shots/"+shot+"/outputs", tok, map[string]string{"asset": ast})
		shots = append(shots, shot)
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rel := e.Must(201, "POST", "/v1/workspaces/"+ws+"/releases", tok, map[string]any{"name": "Reel", "shots": shots}).Str("id")
	e.Must(200, "POST", "/v1/workspaces/"+ws+"/releases/"+rel+"/publish", tok, nil)
	manifest := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(manifest, e.Must(200, "GET", "/v1/provenance/"+rel, "", nil).Body, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)

	page := e.Server.URL + "/verify"
	check := func(t *testing.T, stream bool, paths ...string) (verdict string, fileChecks map[string]string) {
		t.Helper()
		var items []struct{ File, OK, Text string }
		threshold := "64 << 20"
		if stream {
			threshold = "0"
		}
		run(t, ctx,
			open(page),
			chromedp.WaitVisible(`#files`, chromedp.ByQuery),
			chromedp.Evaluate(`window.FB_STREAM_THRESHOLD = `+threshold, nil),
			chromedp.SetUploadFiles(`#files`, paths, chromedp.ByQuery),
			chromedp.Click(`#verify-form button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#result`, chromedp.ByQuery),
			chromedp.Text(`#verdict`, &verdict, chromedp.ByQuery),
			chromedp.Evaluate(`Array.from(document.querySelectorAll('#file-checks li[data-file]')).map(li => ({File: li.dataset.file, OK: li.dataset.ok, Text: li.textContent}))`, &items),
		)
		fileChecks = map[string]string{}
		for _, it := range items {
			fileChecks[it.File] = it.OK + " " + it.Text
		}
		return verdict, fileChecks
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "webcrypto", true: "streamed"}[stream]
		t.Run(name, func(t *testing.T) {
			verdict, fc := check(t, stream, manifest, filepath.Join(dir, "sh010.mov"), filepath.Join(dir, "sh020.mov"))
			if !strings.HasPrefix(verdict, "Verified") {
				t.Fatalf("verdict %q; files %v", verdict, fc)
			}
			for n, b := range files {
				if !strings.HasPrefix(fc[n], "true ") || !strings.Contains(fc[n], sum(b)) {
					t.Errorf("%s: %q, want a match with SHA-256 %s", n, fc[n], sum(b))
				}
			}
		})
	}

	t.Run("release link, files only", func(t *testing.T) {
		page = e.Server.URL + "/verify#release=" + rel
		defer func() { page = e.Server.URL + "/verify" }()
		verdict, fc := check(t, false, filepath.Join(dir, "sh010.mov"), filepath.Join(dir, "sh020.mov"))
		if !strings.HasPrefix(verdict, "Verified") || len(fc) != 2 {
			t.Fatalf("verdict %q; files %v", verdict, fc)
		}
	})

	t.Run("dropped", func(t *testing.T) {
		// A real drop event carrying the manifest and one file, built in
		// the page (the drop zone's handler collects them).
		var verdict, fileText string
		run(t, ctx,
			open(e.Server.URL+"/verify"),
			chromedp.WaitVisible(`#drop`, chromedp.ByQuery),
			chromedp.Evaluate(`fetch('/v1/provenance/`+rel+`').then(r => r.text()).then(m => {
				const dt = new DataTransfer();
				dt.items.add(new File([m], 'manifest.json', {type: 'application/json'}));
				dt.items.add(new File([new Uint8Array(70).fill(7)], 'sh020.mov'));
				document.querySelector('#drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
				return document.querySelectorAll('#file-list li').length;
			})`, nil, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
			chromedp.WaitVisible(`#file-list li`, chromedp.ByQuery),
			chromedp.Click(`#verify-form button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#result`, chromedp.ByQuery),
			chromedp.Text(`#verdict`, &verdict, chromedp.ByQuery),
			chromedp.Text(`#file-checks`, &fileText, chromedp.ByQuery),
		)
		if !strings.HasPrefix(verdict, "Verified") || !strings.Contains(fileText, "sh020.mov matches") {
			t.Fatalf("dropped files: verdict %q, files %q", verdict, fileText)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		bad := append([]byte(nil), files["sh010.mov"]...)
		bad[len(bad)/2] ^= 1
		tdir := t.TempDir()
		tampered := filepath.Join(tdir, "sh010.mov")
		if err := os.WriteFile(tampered, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		verdict, fc := check(t, true, manifest, tampered, filepath.Join(dir, "sh020.mov"))
		if !strings.HasPrefix(verdict, "Not verified") || !strings.Contains(verdict, "sh010.mov does not match") {
			t.Fatalf("verdict %q", verdict)
		}
		got := fc["sh010.mov"]
		if !strings.HasPrefix(got, "false ") || !strings.Contains(got, "expected SHA-256 "+sum(files["sh010.mov"])) || !strings.Contains(got, "got "+sum(bad)) {
			t.Fatalf("tampered file reported as %q", got)
		}
		if !strings.HasPrefix(fc["sh020.mov"], "true ") {
			t.Fatalf("untouched file reported as %q", fc["sh020.mov"])
		}
	})

	t.Run("forged manifest", func(t *testing.T) {
		var env map[string]any
		b, _ := os.ReadFile(manifest)
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		sigs := env["signatures"].([]any)
		sig := sigs[0].(map[string]any)
		s := []byte(sig["sig"].(string))
		if s[2] == 'A' { // change one base64 character
			s[2] = 'B'
		} else {
			s[2] = 'A'
		}
		sig["sig"] = string(s)
		forged, _ := json.Marshal(env)
		fdir := t.TempDir()
		fm := filepath.Join(fdir, "manifest.json")
		if err := os.WriteFile(fm, forged, 0o644); err != nil {
			t.Fatal(err)
		}
		verdict, _ := check(t, false, fm)
		if !strings.HasPrefix(verdict, "Not verified") {
			t.Fatalf("forged manifest: verdict %q", verdict)
		}
	})
}

// TestAcceptInvitationInBrowser: the invitee opens the mailed link while
// signed out, signs in from the page, comes back to it, and accepts; the
// API then lists the workspace for them.
func TestAcceptInvitationInBrowser(t *testing.T) {
	e := apptest.New(t)
	owner, _ := e.User("owner@example.com")
	ws := e.Workspace(owner, "Invite studio")
	e.User("guest@example.com")
	n := len(e.Mail.Messages())
	e.Must(201, "POST", "/v1/workspaces/"+ws+"/invitations", owner, map[string]string{"email": "guest@example.com", "role": "editor"})
	link := mailLink(t, e, n+1)
	if !strings.Contains(link, "/accept-invitation#token=") {
		t.Fatalf("invitation mail links to %s", link)
	}
	ctx := browser(t)
	run(t, ctx,
		open(link),
		chromedp.WaitVisible(`#invite-signin`, chromedp.ByQuery),
		chromedp.Click(`#signin-link`, chromedp.ByQuery),
		chromedp.WaitVisible(`#login-form`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, "guest@example.com", chromedp.ByQuery),
		chromedp.SendKeys(`#password`, pw, chromedp.ByQuery),
		chromedp.Click(`#login-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#invite-accept`, chromedp.ByQuery),
		chromedp.Click(`#go`, chromedp.ByQuery),
	)
	if text, class := statusText(t, ctx); class != "good" || !strings.Contains(text, "Invite studio") {
		t.Fatalf("invitation page says %q (%s)", text, class)
	}
	guest := e.Must(200, "POST", "/v1/auth/login", "", map[string]string{"email": "guest@example.com", "password": pw}).Str("token")
	e.Must(200, "GET", "/v1/workspaces/"+ws, guest, nil)
}

// TestResetWithSecondFactorInBrowser: for an account with TOTP on, the
// reset page first asks for the second factor (nothing is spent), then
// sets the password with a recovery code.
func TestResetWithSecondFactorInBrowser(t *testing.T) {
	e := apptest.New(t)
	tok, _ := e.User("totp@example.com")
	r := e.Must(200, "POST", "/v1/auth/totp/enroll", tok, nil)
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(r.Str("secret"))
	if err != nil {
		t.Fatal(err)
	}
	var confirmed struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	if err := json.Unmarshal(e.Must(200, "POST", "/v1/auth/totp/confirm", tok, map[string]string{"code": identity.TOTP(key, time.Now())}).Body, &confirmed); err != nil || len(confirmed.RecoveryCodes) == 0 {
		t.Fatalf("no recovery codes (%v)", err)
	}
	n := len(e.Mail.Messages())
	e.Must(202, "POST", "/v1/auth/password-reset", "", map[string]string{"email": "totp@example.com"})
	link := mailLink(t, e, n+1)
	ctx := browser(t)
	const newPW = "another new long password"
	run(t, ctx,
		open(link),
		chromedp.WaitVisible(`#password`, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, newPW, chromedp.ByQuery),
		chromedp.Click(`#reset-form button[type=submit]`, chromedp.ByQuery),
	)
	if text, class := statusText(t, ctx); class != "bad" || !strings.Contains(text, "two-factor code") {
		t.Fatalf("without the factor the page says %q (%s)", text, class)
	}
	run(t, ctx,
		chromedp.WaitVisible(`#factor`, chromedp.ByQuery),
		chromedp.SendKeys(`#factor`, confirmed.RecoveryCodes[0], chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#status').className = ''`, nil),
		chromedp.Click(`#reset-form button[type=submit]`, chromedp.ByQuery),
	)
	if text, class := statusText(t, ctx); class != "good" || !strings.Contains(text, "totp@example.com") {
		t.Fatalf("with a recovery code the page says %q (%s)", text, class)
	}
	var refused problem.Body
	if err := json.Unmarshal(e.Must(401, "POST", "/v1/auth/login", "", map[string]string{"email": "totp@example.com", "password": newPW}).Body, &refused); err != nil || refused.Type != problem.SecondFactorRequired.Type() {
		t.Fatalf("login without the factor: type %q (%v), want %s", refused.Type, err, problem.SecondFactorRequired.Type())
	}
	e.Must(200, "POST", "/v1/auth/login", "", map[string]string{"email": "totp@example.com", "password": newPW, "recovery_code": confirmed.RecoveryCodes[1]})
}
