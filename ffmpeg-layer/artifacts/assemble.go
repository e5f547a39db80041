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

// ImageLimitMB is Lambda's limit for a container image, uncompressed, in
// MiB (10 GB); ImageBudgetMB is this project's own budget for the worker
// image (a bigger image is slower to pull on every Fargate task and on the
// probe function's cold starts). TestImage checks both.
const (
	ImageLimitMB  = 10240
	ImageBudgetMB = 1024
)

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

// ProbeEntrypoint is the probe function's bootstrap in the image (its
// Lambda's ImageConfig entry point; infra/stack ProbeEntrypoint).
const ProbeEntrypoint = "/usr/local/bin/probe"

// buildImage writes the worker image (OCI layout) into out and returns its
// digest. It has two layers: the Debian part (ffmpeg, ffprobe, their
// libraries, the loader, CA bundle, passwd) and the Go part (the worker,
// the image's entry point, and the probe function's bootstrap), so a code
// change pushes only the small second layer.
func buildImage(debs, worker, probe, out string) (string, error) {
	if out == "" || worker == "" || probe == "" {
		return "", fmt.Errorf("image: -out, -worker and -probe are required")
	}
	for _, b := range []string{worker, probe} {
		if err := checkStaticArm64(b); err != nil {
			return "", err
		}
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
	fromFile := func(p string) func() ([]byte, error) { return func() ([]byte, error) { return os.ReadFile(p) } }
	base := map[string]entry{
		"usr/bin/ffmpeg":                    {mode: 0o755, content: fromTree(c.Binaries["/usr/bin/ffmpeg"])},
		"usr/bin/ffprobe":                   {mode: 0o755, content: fromTree(c.Binaries["/usr/bin/ffprobe"])},
		"lib/ld-linux-aarch64.so.1":         {mode: 0o755, content: fromTree(c.Loader)},
		"etc/passwd":                        {mode: 0o644, content: static(passwd)},
		"etc/group":                         {mode: 0o644, content: static(group)},
		"etc/ssl/certs/ca-certificates.crt": {mode: 0o644, content: func() ([]byte, error) { return caBundle(t) }},
		"tmp":                               {mode: 0o1777, dir: true},
	}
	for soname, p := range c.Libs {
		base["usr/lib/aarch64-linux-gnu/"+soname] = entry{mode: 0o644, content: fromTree(p)}
	}
	apps := map[string]entry{
		"usr/local/bin/worker":                   {mode: 0o755, content: fromFile(worker)},
		strings.TrimPrefix(ProbeEntrypoint, "/"): {mode: 0o755, content: fromFile(probe)},
	}
	var layers []v1.Layer
	for _, fs := range []map[string]entry{base, apps} {
		layerTar, err := writeTar(fs)
		if err != nil {
			return "", err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil },
			tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return "", err
		}
		layers = append(layers, layer)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layers...)
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
