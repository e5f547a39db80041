package preset

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestPresetsProduceTheirOutputs runs real ffmpeg for every preset on a
// generated clip and checks that exactly the declared outputs appear.
func TestPresetsProduceTheirOutputs(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg not installed (scripts/install.sh installs it)")
	}
	src := filepath.Join(t.TempDir(), "in.mp4")
	gen := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", src)
	if b, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, b)
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p, _ := Lookup(name)
			dir := t.TempDir()
			cmd := exec.Command("ffmpeg", p.Args(src, dir, 2)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ffmpeg %v: %v\n%s", p.Args(src, dir, 2), err, b)
			}
			entries, _ := os.ReadDir(dir)
			got := map[string]bool{}
			for _, e := range entries {
				got[e.Name()] = true
			}
			for _, o := range p.Outputs {
				if !got[o.Name] {
					t.Errorf("output %s missing (have %v)", o.Name, got)
				}
				delete(got, o.Name)
			}
			if len(got) != 0 {
				t.Errorf("undeclared outputs %v", got)
			}
		})
	}
	if _, ok := Lookup("nope"); ok {
		t.Fatal("unknown preset found")
	}
}
