package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/framebroker/framebroker/shared/provenance"
)

// runProvenance serves `framebroker provenance verify MANIFEST --key KEY
// [--files DIR]`: it checks a release's DSSE envelope offline (Ed25519
// signature, key validity, per-shot signatures) and, with --files, that each
// output in DIR has the manifest's SHA-256. The HMAC signature needs the
// service's secret: POST /v1/provenance/verify checks it. Given a media file
// (MP4, JPEG) instead of a manifest, it checks the Content Credentials
// embedded in it (see verifyCredentials).
func runProvenance(args []string) int {
	const usage = "usage: framebroker provenance verify MANIFEST --key KEY [--files DIR]\n       framebroker provenance verify MEDIA_FILE [--key KEY] [--roots PEM]"
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("provenance verify", flag.ContinueOnError)
	keyPath := fs.String("key", "", "Ed25519 public key file (base64/hex key, or the JSON of GET /v1/provenance/keys)")
	files := fs.String("files", "", "directory holding the release's output files")
	roots := fs.String("roots", "", "media files: PEM trust anchors for the signing certificate (e.g. GET /v1/provenance/credentials/root.pem or your CA)")
	file, rest := splitArg(args[1:])
	if err := fs.Parse(rest); err != nil || file == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	if media, err := isMedia(file); err != nil {
		fmt.Fprintln(os.Stderr, "framebroker:", err)
		return 2
	} else if media {
		return verifyCredentials(file, *keyPath, *roots)
	}
	if *keyPath == "" {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	keys, err := readKeys(*keyPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebroker:", err)
		return 2
	}
	env, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "framebroker:", err)
		return 2
	}
	res := provenance.Verify(env, provenance.Options{Keys: keys, FilesDir: *files})
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(out))
	for _, c := range res.Checks {
		if !c.OK {
			fmt.Fprintf(os.Stderr, "FAILED %s: %s\n", c.Name, c.Detail)
		}
	}
	if !res.Valid {
		return 1
	}
	fmt.Fprintln(os.Stderr, "OK")
	return 0
}
