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

// TestImage assembles the worker image twice (same digest: reproducible),
// checks its platform and contents, runs its ffprobe under qemu-user from
// the image's own root, and pushes it by digest to an in-process registry.
func TestImage(t *testing.T) {
	debs, q := debsDir(t), qemu(t)
	bin := t.TempDir()
	worker, probeFn := filepath.Join(bin, "worker"), filepath.Join(bin, "probe")
	// As make build does.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", worker, "./ffmpeg-layer/worker")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v %s", err, out)
	}
	cmd = exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", probeFn, "./ffmpeg-layer/probe")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v %s", err, out)
	}
	out1, out2 := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	d1, err := buildImage(debs, worker, probeFn, out1)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := buildImage(debs, worker, probeFn, out2)
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
	// Unpack the filesystem (layers in order, as a runtime does), check the
	// size budget on the uncompressed bytes, and run ffprobe from it.
	root := t.TempDir()
	layers, _ := img.Layers()
	if len(layers) != 2 {
		t.Fatalf("%d layers, want 2 (Debian part, Go part)", len(layers))
	}
	seen := map[string]bool{}
	var size int64
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			seen[h.Name] = true
			size += h.Size
			if h.Uid != 0 || !h.ModTime.Equal(epoch) || h.Mode&0o004 == 0 {
				t.Fatalf("layer %d %s: uid %d mtime %s mode %o (root-owned, epoch, world-readable: Lambda runs images as another user)", i, h.Name, h.Uid, h.ModTime, h.Mode)
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
		rc.Close()
	}
	mb := float64(size) / (1 << 20)
	t.Logf("worker image: %.1f MiB uncompressed (budget %d MiB; Lambda's image limit %d MiB)", mb, ImageBudgetMB, ImageLimitMB)
	if mb > ImageBudgetMB {
		t.Fatalf("image is %.1f MiB uncompressed, over the %d MiB budget", mb, ImageBudgetMB)
	}
	for _, want := range []string{"usr/local/bin/worker", "usr/local/bin/probe", "usr/bin/ffmpeg", "usr/bin/ffprobe", "lib/ld-linux-aarch64.so.1", "etc/ssl/certs/ca-certificates.crt", "tmp/"} {
		if !seen[want] {
			t.Errorf("image lacks %s", want)
		}
	}
	if ProbeEntrypoint != "/usr/local/bin/probe" {
		t.Fatalf("ProbeEntrypoint %s", ProbeEntrypoint)
	}
	requireAarch64(t, filepath.Join(root, "usr/local/bin/worker"))
	requireAarch64(t, filepath.Join(root, "usr/local/bin/probe"))
	requireAarch64(t, filepath.Join(root, "usr/bin/ffmpeg"))
	clipPath := clip(t)
	probe(t, []string{q, "-L", root, filepath.Join(root, "usr/bin/ffprobe")}, clipPath)
	probeUnderRIE(t, q, root, clipPath)

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
