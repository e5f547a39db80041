package main

import (
	"archive/tar"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// debsDir is where scripts/install.sh (ffmpeg-layer/fetch-debs.sh) puts
// the Debian arm64 packages.
func debsDir(t *testing.T) string {
	t.Helper()
	d, _ := filepath.Abs("../../.local/debian-arm64/debs")
	if m, _ := filepath.Glob(filepath.Join(d, "*.deb")); len(m) == 0 {
		t.Fatalf("no Debian arm64 packages in %s: run scripts/install.sh (make test does)", d)
	}
	return d
}

func qemu(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Fatal("qemu-aarch64-static not found: run scripts/install.sh (Debian qemu-user-static)")
	}
	return p
}

// clip is a short MP4 made by the host's ffmpeg.
func clip(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip.mp4")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=1",
		"-c:v", "libx264", "-preset", "ultrafast", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	return p
}

// probe runs ffprobe (arm64, under qemu) on a clip and checks it read it.
func probe(t *testing.T, argv []string, clipPath string) {
	t.Helper()
	cmd := exec.Command(argv[0], append(argv[1:], "-v", "error", "-show_streams", "-of", "json", clipPath)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("packaged ffprobe failed: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var res struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) != 1 || res.Streams[0].CodecName != "h264" || res.Streams[0].Width != 320 {
		t.Fatalf("packaged ffprobe output %s (%v)", out, err)
	}
}

func dirMB(t *testing.T, dir string) float64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	return float64(n) / (1 << 20)
}

func requireAarch64(t *testing.T, p string) {
	t.Helper()
	f, err := elf.Open(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Fatalf("%s is %s", p, f.Machine)
	}
}

// TestLayer assembles the ffprobe layer from the Debian arm64 packages and
// checks it: every binary and library is aarch64, it fits Lambda's
// unzipped limit, its manifest names the packages, and the packaged
// ffprobe (through the wrapper's loader and library path) probes a clip
// under qemu-user.
func TestLayer(t *testing.T) {
	debs, q := debsDir(t), qemu(t)
	out := filepath.Join(t.TempDir(), "layer")
	if err := buildLayer(debs, out); err != nil {
		t.Fatal(err)
	}
	libs, _ := filepath.Glob(filepath.Join(out, "lib", "*"))
	for _, p := range append(libs, filepath.Join(out, "libexec", "ffprobe")) {
		requireAarch64(t, p)
	}
	mb := dirMB(t, out)
	t.Logf("ffprobe layer: %.1f MiB unzipped, %d libraries (leaves %.1f MiB for the function)", mb, len(libs), LayerLimitMB-mb)
	if mb >= LayerLimitMB {
		t.Fatalf("layer is %.1f MiB unzipped, over Lambda's %d MiB", mb, LayerLimitMB)
	}
	var pkgs []Package
	b, _ := os.ReadFile(filepath.Join(out, "packages.json"))
	if err := json.Unmarshal(b, &pkgs); err != nil || len(pkgs) == 0 {
		t.Fatalf("packages.json: %v", err)
	}
	found := false
	for _, p := range pkgs {
		if p.Name == "ffmpeg" && p.Version != "" && len(p.SHA256) == 64 && p.Architecture == "arm64" {
			found = true
		}
	}
	if !found {
		t.Fatalf("packages.json does not record ffmpeg: %s", b)
	}
	wrapper, _ := os.ReadFile(filepath.Join(out, "bin", "ffprobe"))
	if !strings.Contains(string(wrapper), `"$d/lib/ld-linux-aarch64.so.1" --library-path "$d/lib" "$d/libexec/ffprobe"`) {
		t.Fatalf("wrapper %s", wrapper)
	}
	// What the wrapper runs, under qemu (the host may not be arm64).
	probe(t, []string{q, filepath.Join(out, "lib", "ld-linux-aarch64.so.1"), "--library-path", filepath.Join(out, "lib"),
		filepath.Join(out, "libexec", "ffprobe")}, clip(t))
}

// TestImage assembles the worker image twice (same digest: reproducible),
// checks its platform and contents, runs its ffprobe under qemu-user from
// the image's own root, and pushes it by digest to an in-process registry.
func TestImage(t *testing.T) {
	debs, q := debsDir(t), qemu(t)
	worker := filepath.Join(t.TempDir(), "worker")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", worker, "./ffmpeg-layer/worker")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v %s", err, out)
	}
	out1, out2 := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	d1, err := buildImage(debs, worker, out1)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := buildImage(debs, worker, out2)
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Fatalf("two builds from the same inputs: %s and %s", d1, d2)
	}
	t.Logf("worker image %s, %.1f MiB (OCI layout, compressed)", d1, dirMB(t, out1))
	p, err := layout.FromPath(out1)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	m, _ := idx.IndexManifest()
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	if cf.Architecture != "arm64" || cf.OS != "linux" || cf.Config.User != "65534:65534" || cf.Config.Entrypoint[0] != "/usr/local/bin/worker" {
		t.Fatalf("config %+v", cf)
	}
	// Unpack the filesystem and run ffprobe from it.
	root := t.TempDir()
	layers, _ := img.Layers()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(rc)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = true
		if h.Uid != 0 || !h.ModTime.Equal(epoch) {
			t.Fatalf("%s: uid %d mtime %s", h.Name, h.Uid, h.ModTime)
		}
		dst := filepath.Join(root, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			_ = os.MkdirAll(dst, 0o755)
			continue
		}
		_ = os.MkdirAll(filepath.Dir(dst), 0o755)
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode)|0o200)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(f, tr)
		f.Close()
	}
	for _, want := range []string{"usr/local/bin/worker", "usr/bin/ffmpeg", "usr/bin/ffprobe", "lib/ld-linux-aarch64.so.1", "etc/ssl/certs/ca-certificates.crt", "tmp/"} {
		if !seen[want] {
			t.Errorf("image lacks %s", want)
		}
	}
	requireAarch64(t, filepath.Join(root, "usr/local/bin/worker"))
	requireAarch64(t, filepath.Join(root, "usr/bin/ffmpeg"))
	probe(t, []string{q, "-L", root, filepath.Join(root, "usr/bin/ffprobe")}, clip(t))

	// Push by digest to an in-process registry, as make deploy does to ECR.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/framebroker/worker"
	record := filepath.Join(t.TempDir(), "worker-image.json")
	ref, err := push(out1, repo, record, false)
	if err != nil {
		t.Fatal(err)
	}
	if ref != repo+"@"+d1 {
		t.Fatalf("pushed %s, want %s@%s", ref, repo, d1)
	}
	got, err := remote.Image(mustDigest(t, ref))
	if err != nil {
		t.Fatal(err)
	}
	if gd, _ := got.Digest(); gd.String() != d1 {
		t.Fatalf("registry serves %s", gd)
	}
	var rec Pushed
	b, _ := os.ReadFile(record)
	if err := json.Unmarshal(b, &rec); err != nil || rec.Digest != d1 || rec.Image != ref || rec.Platform != "linux/arm64" {
		t.Fatalf("record %s (%v)", b, err)
	}
}

func mustDigest(t *testing.T, ref string) name.Digest {
	d, err := name.NewDigest(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
