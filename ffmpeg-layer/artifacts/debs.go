package main

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Package is one Debian package the artifacts were assembled from.
type Package struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	SHA256       string `json:"sha256"` // of the .deb file
}

// Tree is the union of the data of a set of .deb files, extracted without
// running any maintainer script, with each file's package known.
type Tree struct {
	Root     string             // extraction root (one dir per package below)
	Packages map[string]Package // by name
	// files maps an absolute path in the union ("/usr/bin/ffprobe") to the
	// package holding it.
	files map[string]string
	// byName maps a file's base name to its paths (for libraries that
	// maintainer scripts would have linked into the search path).
	byName map[string][]string
}

// Extract unpacks every .deb of dir (dpkg-deb -x, which needs no root and
// runs nothing from the package) under work.
func Extract(dir, work string) (*Tree, error) {
	debs, err := filepath.Glob(filepath.Join(dir, "*.deb"))
	if err != nil || len(debs) == 0 {
		return nil, fmt.Errorf("artifacts: no .deb files in %s (run ffmpeg-layer/fetch-debs.sh)", dir)
	}
	sort.Strings(debs)
	t := &Tree{Root: work, Packages: map[string]Package{}, files: map[string]string{}, byName: map[string][]string{}}
	for _, deb := range debs {
		out, err := exec.Command("dpkg-deb", "-f", deb, "Package", "Version", "Architecture").Output()
		if err != nil {
			return nil, fmt.Errorf("artifacts: dpkg-deb -f %s: %w", deb, err)
		}
		fields := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			k, v, _ := strings.Cut(l, ": ")
			fields[k] = v
		}
		p := Package{Name: fields["Package"], Version: fields["Version"], Architecture: fields["Architecture"]}
		if p.Architecture != "arm64" && p.Architecture != "all" {
			return nil, fmt.Errorf("artifacts: %s is for %s, not arm64", filepath.Base(deb), p.Architecture)
		}
		if p.SHA256, err = fileSHA256(deb); err != nil {
			return nil, err
		}
		if old, dup := t.Packages[p.Name]; dup {
			return nil, fmt.Errorf("artifacts: two versions of %s (%s, %s) in %s", p.Name, old.Version, p.Version, dir)
		}
		t.Packages[p.Name] = p
		dest := filepath.Join(work, p.Name)
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return nil, err
		}
		if out, err := exec.Command("dpkg-deb", "-x", deb, dest).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("artifacts: dpkg-deb -x %s: %v: %s", deb, err, out)
		}
		err = filepath.Walk(dest, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return err
			}
			rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, dest+string(filepath.Separator)))
			if _, seen := t.files[rel]; !seen {
				t.files[rel] = fields["Package"]
				t.byName[path.Base(rel)] = append(t.byName[path.Base(rel)], rel)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// host is where a union path's bytes are on this machine.
func (t *Tree) host(p string) string {
	return filepath.Join(t.Root, t.files[p], filepath.FromSlash(p))
}

// resolve follows symlinks inside the union (never out of it) to a regular
// file's union path.
func (t *Tree) resolve(p string) (string, error) {
	for i := 0; i < 40; i++ {
		if _, ok := t.files[p]; !ok {
			return "", fmt.Errorf("artifacts: %s is in no package", p)
		}
		fi, err := os.Lstat(t.host(p))
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return p, nil
		}
		target, err := os.Readlink(t.host(p))
		if err != nil {
			return "", err
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		p = path.Clean(target)
	}
	return "", fmt.Errorf("artifacts: symlink loop at %s", p)
}

// libDirs are the loader's multiarch search directories.
var libDirs = []string{"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"}

// findLib finds a library by soname: in the search directories, or
// anywhere else in them (a library that update-alternatives would have
// linked into the search path, e.g. blas/libblas.so.3).
func (t *Tree) findLib(name string) (string, error) {
	for _, d := range libDirs {
		if _, ok := t.files[d+"/"+name]; ok {
			return t.resolve(d + "/" + name)
		}
	}
	cands := append([]string(nil), t.byName[name]...)
	sort.Strings(cands)
	for _, c := range cands {
		for _, d := range libDirs {
			if strings.HasPrefix(c, d+"/") {
				return t.resolve(c)
			}
		}
	}
	return "", fmt.Errorf("artifacts: library %s is in no package", name)
}

// Closure is what a set of binaries loads: each needed library (by soname)
// with the union path of its bytes, the dynamic loader, and the packages
// they come from.
type Closure struct {
	Binaries map[string]string // union path → resolved union path
	Libs     map[string]string // soname → resolved union path
	Loader   string            // resolved union path of ld-linux-aarch64.so.1
	Packages []Package
}

// Needs walks the ELF dynamic dependencies (DT_NEEDED) of bins, which
// must be aarch64 executables, to their closure.
func (t *Tree) Needs(bins ...string) (*Closure, error) {
	c := &Closure{Binaries: map[string]string{}, Libs: map[string]string{}}
	pkgs := map[string]bool{}
	var queue []string
	for _, b := range bins {
		r, err := t.resolve(b)
		if err != nil {
			return nil, err
		}
		c.Binaries[b] = r
		queue = append(queue, r)
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		pkgs[t.files[p]] = true
		f, err := elf.Open(t.host(p))
		if err != nil {
			return nil, fmt.Errorf("artifacts: %s: %w", p, err)
		}
		if f.Machine != elf.EM_AARCH64 {
			f.Close()
			return nil, fmt.Errorf("artifacts: %s is %s, not aarch64", p, f.Machine)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP && c.Loader == "" {
				b, _ := io.ReadAll(prog.Open())
				loader, err := t.resolve(strings.TrimRight(string(b), "\x00"))
				if err != nil {
					f.Close()
					return nil, err
				}
				c.Loader = loader
				pkgs[t.files[loader]] = true
			}
		}
		needed, err := f.ImportedLibraries()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("artifacts: %s: %w", p, err)
		}
		for _, n := range needed {
			if _, done := c.Libs[n]; done {
				continue
			}
			lp, err := t.findLib(n)
			if err != nil {
				return nil, fmt.Errorf("%w (needed by %s)", err, p)
			}
			c.Libs[n] = lp
			queue = append(queue, lp)
		}
	}
	if c.Loader == "" {
		return nil, fmt.Errorf("artifacts: %v name no dynamic loader", bins)
	}
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c.Packages = append(c.Packages, t.Packages[n])
	}
	return c, nil
}
