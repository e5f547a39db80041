package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framebroker/framebroker/shared/app/apptest"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/db/dbtest"
)

// readmeBlock is the first ```sh block after heading in README.md.
func readmeBlock(t *testing.T, readme []byte, heading string) string {
	t.Helper()
	_, after, ok := bytes.Cut(readme, []byte("\n"+heading+"\n"))
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	_, code, ok := bytes.Cut(after, []byte("```sh\n"))
	if !ok {
		t.Fatalf("README.md %q has no sh block", heading)
	}
	code, _, ok = bytes.Cut(code, []byte("\n```"))
	if !ok {
		t.Fatalf("README.md %q: unterminated sh block", heading)
	}
	return string(code) + "\n"
}

// readmeBlocks is every sh block of README.md from heading up to the next
// "## " heading, in order.
func readmeBlocks(t *testing.T, readme []byte, heading string) []string {
	t.Helper()
	_, after, ok := bytes.Cut(readme, []byte("\n"+heading+"\n"))
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	section, _, _ := bytes.Cut(after, []byte("\n## "))
	var out []string
	for {
		_, code, ok := bytes.Cut(section, []byte("```sh\n"))
		if !ok {
			return out
		}
		code, rest, ok := bytes.Cut(code, []byte("\n```"))
		if !ok {
			t.Fatalf("README.md %q: unterminated sh block", heading)
		}
		out = append(out, string(code)+"\n")
		section = rest
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatal("no go.mod above the test")
	return ""
}

// freePort is a loopback port nobody listens on (and, for stripe-mock,
// the next one too).
func freePort(t *testing.T, pair bool) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !pair {
			return p
		}
		if l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1)); err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

// cleanEnv is the environment without the test stack's FRAMEBROKER_*
// settings: the README's reader has none.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FRAMEBROKER_") {
			out = append(out, kv)
		}
	}
	return out
}

// TestReadmeTryIt runs README.md's "Try it" session the way a reader
// pastes it: `framebroker dev` (the CLI make builds, on ports of its own)
// in a fresh directory, then the block in bash, unchanged except for the
// base URL. It fails if a command fails or the session's claims (health,
// verified email, the server's SHA-256 equal to sha256sum's, a completed
// job, a valid ledger) do not show in its output.
func TestReadmeTryIt(t *testing.T) {
	dbtest.RequireStack(t, config.EnvDatabaseURL) // runs in make test, beside the test stack
	root := repoRoot(t)
	bin := filepath.Join(root, ".local", "bin", "framebroker")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: run make cli (make test does)", bin)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script := readmeBlock(t, readme, "### Try it")
	// "Uploads and hostile media" continues the session (B, TOKEN, WS as in
	// "Try it"): the curl multipart upload, then the CLI's. The CLI line's
	// `make cli &&` is dropped: the checkout-like directory has the built
	// CLI but no Makefile.
	uploads := readmeBlocks(t, readme, "## Uploads and hostile media")
	if len(uploads) != 2 {
		t.Fatalf("README.md \"Uploads and hostile media\" has %d sh blocks, want 2 (curl multipart, CLI)", len(uploads))
	}
	script += uploads[0] + strings.Replace(uploads[1], "make cli && ", "", 1)

	// A checkout-like directory the postgres user can enter, sharing the
	// built tools.
	work, err := os.MkdirTemp("", "fb-readme-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	_ = os.Chmod(work, 0o755)
	if err := os.MkdirAll(filepath.Join(work, ".local"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"bin", "sfn", "c2pa"} {
		if _, err := os.Stat(filepath.Join(root, ".local", tool)); err == nil {
			if err := os.Symlink(filepath.Join(root, ".local", tool), filepath.Join(work, ".local", tool)); err != nil {
				t.Fatal(err)
			}
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, false))
	logFile := filepath.Join(work, "dev.log")
	logOut, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	dev := exec.Command(bin, "dev", "--dir", ".local/dev", "--addr", addr,
		"--pg-port", fmt.Sprint(freePort(t, false)), "--s3-port", fmt.Sprint(freePort(t, false)),
		"--stripe-port", fmt.Sprint(freePort(t, true)))
	dev.Dir, dev.Env, dev.Stdout, dev.Stderr = work, cleanEnv(), logOut, logOut
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- dev.Wait() }()
	t.Cleanup(func() {
		_ = dev.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(60 * time.Second): // a safety net, not a timing claim
			_ = dev.Process.Kill()
			<-done
		}
		logOut.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("framebroker dev log (tail):\n%s", b)
		}
	})
	base := "http://" + addr
	giveUp := time.Now().Add(5 * time.Minute) // a safety net against a hang
	for ready := false; !ready; {
		if time.Now().After(giveUp) {
			t.Fatal("framebroker dev never answered /healthz")
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("framebroker dev exited: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			ready = res.StatusCode == http.StatusOK
		}
	}

	script = strings.Replace(script, "B=http://127.0.0.1:8080", "B="+base, 1)
	sh := exec.Command("bash", "-c", "set -euo pipefail\n"+script)
	sh.Dir, sh.Env = work, cleanEnv()
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the Try it session failed: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{`{"status":"ok"}`, `"email_verified":true`, `"status":"completed"`, `"valid":true`} {
		if !strings.Contains(text, want) {
			t.Errorf("the session's output lacks %s:\n%s", want, text)
		}
	}
	// The multipart asset completed with big.bin's SHA-256 (the curl block
	// and the CLI upload the same file, so both assets carry it).
	big, err := os.ReadFile("/tmp/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	bigSum := sha256.Sum256(big)
	sumField := regexp.QuoteMeta(`"sha256":"` + hex.EncodeToString(bigSum[:]) + `"`)
	if !regexp.MustCompile(`"status":"complete"[^{}]*` + sumField + `|` + sumField + `[^{}]*"status":"complete"`).MatchString(text) {
		t.Errorf("no complete asset with big.bin's SHA-256 %x in the output:\n%s", bigSum, text)
	}
	if !strings.Contains(text, `"status":"verifying"`) {
		t.Errorf("the multipart complete did not answer verifying:\n%s", text)
	}
	// The completed asset's "sha256" is the SHA-256 of the clip the session made.
	clip, err := os.ReadFile("/tmp/clip.mp4")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(clip)
	if !strings.Contains(text, `"sha256":"`+hex.EncodeToString(sum[:])+`"`) || !strings.Contains(text, `"status":"complete"`) {
		t.Errorf("no completed asset with the clip's SHA-256 %x in the output:\n%s", sum, text)
	}
}

// readmeIndented is the run of 4-space-indented lines of README.md that
// starts with first.
func readmeIndented(t *testing.T, readme []byte, first string) string {
	t.Helper()
	var b strings.Builder
	in := false
	for _, line := range strings.Split(string(readme), "\n") {
		if !in && line == "    "+first {
			in = true
		}
		if in {
			if !strings.HasPrefix(line, "    ") {
				break
			}
			b.WriteString(strings.TrimPrefix(line, "    ") + "\n")
		}
	}
	if !in {
		t.Fatalf("README.md has no indented line %q", first)
	}
	return b.String()
}

// TestReadmeProvenanceVerify runs the README's offline provenance check as
// printed (keys, manifest, `framebroker provenance verify … --files`)
// against a published release, with its files in ./deliverables; then with
// one file changed, which must fail.
func TestReadmeProvenanceVerify(t *testing.T) {
	e := apptest.New(t)
	root := repoRoot(t)
	binDir := filepath.Join(root, ".local", "bin")
	if _, err := os.Stat(filepath.Join(binDir, "framebroker")); err != nil {
		t.Fatalf("%s: run make cli (make test does)", binDir)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script := readmeIndented(t, readme, "curl -s $API/v1/provenance/keys > keys.json")

	tok, _ := e.User("readme@example.com")
	ws := e.Workspace(tok, "Readme studio")
	prj := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects", tok, map[string]string{"name": "P"}).Str("id")
	shot := e.Must(201, "POST", "/v1/workspaces/"+ws+"/projects/"+prj+"/shots", tok, map[string]string{"name": "sh010"}).Str("id")
	body := bytes.Repeat([]byte("reel "), 2000)
	asset := e.UploadAsset(tok, ws, "sh010.mov", "application/octet-stream", body)
	e.Must(201, "POST", "/v1/workspaces/"+ws+"/shots/"+shot+"/outputs", tok, map[string]string{"asset": asset})
	rel := e.Must(201, "POST", "/v1/workspaces/"+ws+"/releases", tok, map[string]any{"name": "R", "shots": []string{shot}}).Str("id")
	e.Must(200, "POST", "/v1/workspaces/"+ws+"/releases/"+rel+"/publish", tok, nil)

	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "deliverables"), 0o755); err != nil {
		t.Fatal(err)
	}
	sh := func() ([]byte, error) {
		cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+script)
		cmd.Dir = work
		cmd.Env = append(cleanEnv(), "API="+e.Server.URL, "RELEASE="+rel, "PATH="+binDir+":"+os.Getenv("PATH"))
		return cmd.CombinedOutput()
	}
	if err := os.WriteFile(filepath.Join(work, "deliverables", "sh010.mov"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := sh()
	if err != nil || !bytes.Contains(out, []byte(`"valid": true`)) {
		t.Fatalf("README provenance check: %v\n%s", err, out)
	}
	body[10] ^= 1
	if err := os.WriteFile(filepath.Join(work, "deliverables", "sh010.mov"), body, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := sh(); err == nil || !bytes.Contains(out, []byte("FAILED")) {
		t.Fatalf("a changed file passed the README's check: %v\n%s", err, out)
	}
}

// TestReadmeSynth runs the deploy walkthrough's `make synth` (README
// "Deploying to AWS": it works offline with no AWS credentials and ends
// with the cost model) with every AWS_* variable removed, then checks its
// claims: a synthesized template in cdk.out and the cost model's idle total.
// About a minute with a warm build cache.
func TestReadmeSynth(t *testing.T) {
	if testing.Short() {
		t.Skip("make synth builds every function and the worker image")
	}
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, deploy, ok := bytes.Cut(readme, []byte("\n## Deploying to AWS"))
	if !ok || !bytes.Contains(deploy, []byte("`make synth` works offline with no AWS credentials")) {
		t.Fatal("README.md's deploy section no longer says `make synth` works offline with no AWS credentials")
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	mk := exec.Command("make", "synth")
	mk.Dir, mk.Env = root, env
	out, err := mk.CombinedOutput()
	if err != nil {
		t.Fatalf("make synth: %v\n%s", err, tail(out))
	}
	templates, _ := filepath.Glob(filepath.Join(root, "cdk.out", "*.template.json"))
	if len(templates) == 0 {
		t.Errorf("make synth left no cdk.out/*.template.json\n%s", tail(out))
	}
	if !regexp.MustCompile(`TOTAL idle month\s+[0-9]+\.[0-9]{2} USD`).Match(out) {
		t.Errorf("make synth did not end with the cost model's idle total\n%s", tail(out))
	}
}

// tail is the last 4000 bytes of out.
func tail(out []byte) []byte {
	if len(out) > 4000 {
		return out[len(out)-4000:]
	}
	return out
}
