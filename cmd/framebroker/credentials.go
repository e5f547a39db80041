package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/framebroker/framebroker/shared/c2pa"
	"github.com/framebroker/framebroker/shared/credentials"
)

// isMedia reports whether path looks like a media file rather than a JSON
// manifest: it does not start (after white space) with "{".
func isMedia(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 64)
	n, _ := f.Read(head)
	return !bytes.HasPrefix(bytes.TrimSpace(head[:n]), []byte("{")), nil
}

// verifyCredentials checks the Content Credentials embedded in a media file
// offline and prints the report: exit 0 when the file is intact (and, if a
// trust source was given, the signer trusted), 1 otherwise, 2 for a file
// without credentials or an unusable argument. Trust sources: --key (the
// keyring's published keys, GET /v1/provenance/keys: certificates they
// issued) and --roots (PEM anchors: Framebroker's root.pem, or the CA a
// customer signs with).
func verifyCredentials(path, keyPath, rootsPath string) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebroker:", err)
		return 2
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebroker:", err)
		return 2
	}
	var o c2pa.VerifyOptions
	if keyPath != "" {
		keys, err := readKeys(keyPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "framebroker:", err)
			return 2
		}
		o.TrustLeaf = credentials.IssuedBy(keys)
	}
	if rootsPath != "" {
		pemBytes, err := os.ReadFile(rootsPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "framebroker:", err)
			return 2
		}
		o.Roots = x509.NewCertPool()
		if !o.Roots.AppendCertsFromPEM(pemBytes) {
			fmt.Fprintln(os.Stderr, "framebroker: --roots holds no PEM certificate")
			return 2
		}
	}
	rep, err := c2pa.Verify(f, st.Size(), o)
	if errors.Is(err, c2pa.ErrNoManifest) {
		fmt.Fprintln(os.Stderr, "framebroker: the file carries no Content Credentials")
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebroker:", err)
		return 2
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(out))
	for _, c := range rep.Checks {
		if !c.OK {
			fmt.Fprintf(os.Stderr, "FAILED %s: %s\n", c.Name, c.Detail)
		}
	}
	// An input's failures recorded when this file was made: history, not
	// a failure of this file, but never silent.
	for _, in := range rep.Ingredients {
		for _, f := range in.Recorded {
			fmt.Fprintf(os.Stderr, "INGREDIENT %s (%s) was recorded with %s %s\n", in.Title, in.Label, f.Code, f.URL)
		}
	}
	trustGiven := o.Roots != nil || o.TrustLeaf != nil
	if !rep.Valid || (trustGiven && !rep.Trusted) {
		return 1
	}
	if !trustGiven {
		fmt.Fprintln(os.Stderr, "OK (intact; signer not checked: give --key or --roots)")
		return 0
	}
	fmt.Fprintln(os.Stderr, "OK")
	return 0
}
