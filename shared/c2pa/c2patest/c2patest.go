// Package c2patest reads files with the C2PA reference implementation
// (c2pa-rs compiled to wasm, npm @contentauth/c2pa-wasm, installed into
// .local/c2pa by scripts/install.sh) under Node, for tests.
package c2patest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Report is the part of the reference Reader's JSON the tests check.
type Report struct {
	// Error is set when the reader refused the file outright (for example
	// "C2pa(JumbfNotFound)" for a file without credentials).
	Error          string `json:"error"`
	ActiveManifest string `json:"active_manifest"`
	// ValidationState is Valid, Trusted or Invalid.
	ValidationState   string `json:"validation_state"`
	ValidationResults struct {
		ActiveManifest struct {
			Success []Status `json:"success"`
			Failure []Status `json:"failure"`
		} `json:"activeManifest"`
	} `json:"validation_results"`
	Manifests map[string]json.RawMessage `json:"manifests"`
	// Raw is the reader's whole output.
	Raw string `json:"-"`
}

// Status is one validation status entry.
type Status struct {
	Code        string `json:"code"`
	URL         string `json:"url"`
	Explanation string `json:"explanation"`
}

// Untrusted is the status of a signer not on the reader's trust list:
// expected for Framebroker's own root unless it is given as an anchor.
const Untrusted = "signingCredential.untrusted"

// Failures are the failure codes, apart from Untrusted.
func (r Report) Failures() []string {
	var out []string
	for _, f := range r.ValidationResults.ActiveManifest.Failure {
		if f.Code != Untrusted {
			out = append(out, f.Code+": "+f.Explanation)
		}
	}
	return out
}

// Succeeded reports whether the reader reported success code.
func (r Report) Succeeded(code string) bool {
	for _, s := range r.ValidationResults.ActiveManifest.Success {
		if s.Code == code {
			return true
		}
	}
	return false
}

// OK: the reader validated the file with no failure but an untrusted signer.
func (r Report) OK() bool {
	return r.Error == "" && (r.ValidationState == "Valid" || r.ValidationState == "Trusted") && len(r.Failures()) == 0
}

// Root is the checkout holding this package.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Read reads data (of type mime) with the reference implementation,
// trusting anchorsPEM when not nil. A missing reader fails the test.
func Read(t testing.TB, mime string, data []byte, anchorsPEM []byte) Report {
	t.Helper()
	pkg := filepath.Join(Root(), ".local", "c2pa", "node_modules", "@contentauth", "c2pa-wasm")
	if _, err := os.Stat(filepath.Join(pkg, "pkg", "c2pa_bg.wasm")); err != nil {
		t.Fatalf("the C2PA reference reader is not installed (scripts/install.sh installs it): %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "asset")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, self, _, _ := runtime.Caller(0)
	args := []string{filepath.Join(filepath.Dir(self), "c2pa-read.mjs"), pkg, mime, file}
	if anchorsPEM != nil {
		anchors := filepath.Join(dir, "anchors.pem")
		if err := os.WriteFile(anchors, anchorsPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, anchors)
	}
	out, err := exec.Command("node", args...).Output()
	if err != nil {
		t.Fatalf("node c2pa reader: %v", err)
	}
	var rep Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("reader output: %v\n%s", err, out)
	}
	rep.Raw = string(out)
	return rep
}
