package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is every timestamp in the artifacts (reproducible builds).
var epoch = time.Unix(0, 0).UTC()

// LayerLimitMB is Lambda's limit for a function and its layers, unzipped,
// in MiB (262,144,000 bytes).
const LayerLimitMB = 250

// layerWrapper runs the bundled ffprobe with the bundled loader and
// libraries (Lambda's own glibc is older than Debian's).
const layerWrapper = `#!/bin/sh
# ffprobe from Debian 12 (arm64) with its own libraries and loader
# (assembled by ffmpeg-layer/artifacts; see packages.json).
d=$(dirname "$0")/..
exec "$d/lib/ld-linux-aarch64.so.1" --library-path "$d/lib" "$d/libexec/ffprobe" "$@"
`

// buildLayer writes the ffprobe layer into out.
func buildLayer(debs, out string) error {
	if out == "" {
		return fmt.Errorf("layer: -out is required")
	}
	work, err := os.MkdirTemp("", "framebroker-debs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	t, err := Extract(debs, work)
	if err != nil {
		return err
	}
	c, err := t.Needs("/usr/bin/ffprobe")
	if err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	for _, d := range []string{"bin", "lib", "libexec"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{"libexec/ffprobe": c.Binaries["/usr/bin/ffprobe"], "lib/ld-linux-aarch64.so.1": c.Loader}
	for soname, p := range c.Libs {
		files["lib/"+soname] = p
	}
	for dst, src := range files {
		mode := os.FileMode(0o644)
		if strings.HasPrefix(dst, "libexec/") || strings.Contains(dst, "ld-linux") {
			mode = 0o755
		}
		if err := copyFile(t.host(src), filepath.Join(out, dst), mode); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(out, "bin", "ffprobe"), []byte(layerWrapper), 0o755); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(out, "packages.json"), c.Packages); err != nil {
		return err
	}
	// Fixed timestamps: the asset's zip (and hash) depend on content only.
	return filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, epoch, epoch)
	})
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func writeJSON(p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(p, append(b, '\n'), 0o644)
}

// entry is one file of the image's filesystem.
type entry struct {
	mode    int64
	dir     bool
	content func() ([]byte, error)
}

// passwd and group name root and nobody (the worker runs as 65534).
const (
	passwd = "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	group  = "root:x:0:\nnogroup:x:65534:\n"
)

// buildImage writes the worker image (OCI layout) into out and returns its
// digest.
func buildImage(debs, worker, out string) (string, error) {
	if out == "" || worker == "" {
		return "", fmt.Errorf("image: -out and -worker are required")
	}
	if err := checkStaticArm64(worker); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp("", "framebroker-debs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	t, err := Extract(debs, work)
	if err != nil {
		return "", err
	}
	c, err := t.Needs("/usr/bin/ffmpeg", "/usr/bin/ffprobe")
	if err != nil {
		return "", err
	}
	fromTree := func(p string) func() ([]byte, error) { return func() ([]byte, error) { return os.ReadFile(t.host(p)) } }
	fs := map[string]entry{
		"usr/bin/ffmpeg":                    {mode: 0o755, content: fromTree(c.Binaries["/usr/bin/ffmpeg"])},
		"usr/bin/ffprobe":                   {mode: 0o755, content: fromTree(c.Binaries["/usr/bin/ffprobe"])},
		"lib/ld-linux-aarch64.so.1":         {mode: 0o755, content: fromTree(c.Loader)},
		"usr/local/bin/worker":              {mode: 0o755, content: func() ([]byte, error) { return os.ReadFile(worker) }},
		"etc/passwd":                        {mode: 0o644, content: static(passwd)},
		"etc/group":                         {mode: 0o644, content: static(group)},
		"etc/ssl/certs/ca-certificates.crt": {mode: 0o644, content: func() ([]byte, error) { return caBundle(t) }},
		"tmp":                               {mode: 0o1777, dir: true},
	}
	for soname, p := range c.Libs {
		fs["usr/lib/aarch64-linux-gnu/"+soname] = entry{mode: 0o644, content: fromTree(p)}
	}
	layerTar, err := writeTar(fs)
	if err != nil {
		return "", err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return "", err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = "arm64", "linux", v1.Time{Time: epoch}
	cf.Config = v1.Config{
		Entrypoint: []string{"/usr/local/bin/worker"},
		User:       "65534:65534",
		WorkingDir: "/tmp",
		Env:        []string{"PATH=/usr/local/bin:/usr/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels:     map[string]string{"org.opencontainers.image.title": "framebroker-worker"},
	}
	cf.History = nil
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(out); err != nil {
		return "", err
	}
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return "", err
	}
	if err := p.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"})); err != nil {
		return "", err
	}
	if err := writeJSON(filepath.Join(out, "packages.json"), c.Packages); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(out, "DIGEST"), []byte(digest.String()+"\n"), 0o644); err != nil {
		return "", err
	}
	return digest.String(), nil
}

func static(s string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(s), nil } }

// caBundle is what update-ca-certificates would generate: every
// certificate ca-certificates ships, concatenated in path order.
func caBundle(t *Tree) ([]byte, error) {
	var paths []string
	for p := range t.files {
		if strings.HasPrefix(p, "/usr/share/ca-certificates/") && strings.HasSuffix(p, ".crt") {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("image: no certificates from ca-certificates")
	}
	sort.Strings(paths)
	var b bytes.Buffer
	for _, p := range paths {
		c, err := os.ReadFile(t.host(p))
		if err != nil {
			return nil, err
		}
		b.Write(bytes.TrimSpace(c))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// writeTar renders fs as a tar with its parent directories, sorted, owned
// by root, every timestamp epoch.
func writeTar(fs map[string]entry) ([]byte, error) {
	all := map[string]entry{}
	for p, e := range fs {
		all[p] = e
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = entry{mode: 0o755, dir: true}
			}
		}
	}
	names := make([]string, 0, len(all))
	for p := range all {
		names = append(names, p)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		e := all[p]
		h := &tar.Header{Name: p, Mode: e.mode, ModTime: epoch, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		var body []byte
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, p+"/"
		} else {
			var err error
			if body, err = e.content(); err != nil {
				return nil, fmt.Errorf("image: %s: %w", p, err)
			}
			h.Typeflag, h.Size = tar.TypeReg, int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// checkStaticArm64 refuses a worker that is not a static aarch64 binary
// (the image has no Go toolchain's expectations beyond the kernel).
func checkStaticArm64(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("image: worker %s: %w", p, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		return fmt.Errorf("image: worker %s is %s, not aarch64 (GOARCH=arm64)", p, f.Machine)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("image: worker %s is dynamically linked (CGO_ENABLED=0)", p)
		}
	}
	return nil
}
