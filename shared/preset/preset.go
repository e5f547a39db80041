// Package preset names the encodes Framebroker offers and builds the exact
// ffmpeg command for each. The coordinator uses it to know which outputs a
// job must produce (and mint one upload URL for each); the worker uses it to
// build its command line. Both sides use this one table.
package preset

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
)

// Output is one file a preset produces.
type Output struct {
	Name        string // file name, unique within the job
	ContentType string
}

// Preset is a named encode.
type Preset struct {
	Name    string
	Summary string
	Outputs []Output
	// args builds ffmpeg's arguments from the input (a URL or path), the
	// output directory and the input's duration in seconds.
	args func(in, dir string, duration float64) []string
}

// h264 are the shared H.264/AAC settings: broadcast-safe pixel format,
// a keyframe every two seconds, AAC stereo.
func h264(height int, crf string) []string {
	return []string{
		"-c:v", "libx264", "-preset", "veryfast", "-crf", crf, "-pix_fmt", "yuv420p",
		"-vf", "scale=-2:" + strconv.Itoa(height),
		"-g", "48", "-keyint_min", "48", "-sc_threshold", "0",
		"-c:a", "aac", "-b:a", "128k", "-ac", "2",
	}
}

func mp4(height int) func(in, dir string, _ float64) []string {
	return func(in, dir string, _ float64) []string {
		a := []string{"-i", in, "-map", "0:v:0", "-map", "0:a:0?"}
		a = append(a, h264(height, "21")...)
		return append(a, "-movflags", "+faststart", "-f", "mp4", filepath.Join(dir, "output.mp4"))
	}
}

var rungs = []struct {
	name   string
	height int
	rate   string
}{{"1080p", 1080, "5000000"}, {"720p", 720, "2800000"}, {"480p", 480, "1400000"}}

// hls encodes each rung as one fragmented MP4 file (CMAF: an init section
// ftyp+moov, then a sidx+moof+mdat fragment per segment, addressed by the
// playlist's EXT-X-MAP and EXT-X-BYTERANGE ranges; single_file), so the set
// of outputs is fixed before the encode starts, each gets its own presigned
// upload URL, and each rung is ISO BMFF, which carries Content Credentials.
func hls(in, dir string, _ float64) []string {
	a := []string{"-i", in}
	for range rungs {
		a = append(a, "-map", "0:v:0", "-map", "0:a:0?")
	}
	for i, r := range rungs {
		s := strconv.Itoa(i)
		a = append(a, "-filter:v:"+s, "scale=-2:"+strconv.Itoa(r.height), "-b:v:"+s, r.rate, "-maxrate:v:"+s, r.rate)
	}
	a = append(a, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-g", "48", "-keyint_min", "48", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "128k", "-ac", "2")
	var vsm string
	for i, r := range rungs {
		if i > 0 {
			vsm += " "
		}
		vsm += fmt.Sprintf("v:%d,a:%d,name:%s", i, i, r.name)
	}
	return append(a, "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod",
		"-hls_segment_type", "fmp4", "-hls_flags", "single_file", "-hls_segment_filename", filepath.Join(dir, "%v.mp4"),
		"-master_pl_name", "master.m3u8", "-var_stream_map", vsm, filepath.Join(dir, "%v.m3u8"))
}

// ThumbnailCount is the number of stills in the thumbnails sprite.
const ThumbnailCount = 5

// thumbnails makes one JPEG sprite of ThumbnailCount evenly spaced stills.
func thumbnails(in, dir string, duration float64) []string {
	if duration <= 0 {
		duration = 1
	}
	rate := strconv.FormatFloat(float64(ThumbnailCount)/duration, 'f', 6, 64)
	return []string{"-i", in, "-vf", "fps=" + rate + ",scale=320:-2,tile=" + strconv.Itoa(ThumbnailCount) + "x1",
		"-frames:v", "1", "-q:v", "4", filepath.Join(dir, "sprite.jpg")}
}

var presets = map[string]Preset{
	"mp4-h264-1080p": {Name: "mp4-h264-1080p", Summary: "H.264/AAC MP4, 1080 lines", Outputs: []Output{{"output.mp4", "video/mp4"}}, args: mp4(1080)},
	"mp4-h264-720p":  {Name: "mp4-h264-720p", Summary: "H.264/AAC MP4, 720 lines", Outputs: []Output{{"output.mp4", "video/mp4"}}, args: mp4(720)},
	"hls-ladder": {Name: "hls-ladder", Summary: "HLS ladder 1080/720/480 H.264 + AAC with a master playlist", args: hls,
		Outputs: func() []Output {
			out := []Output{{"master.m3u8", "application/vnd.apple.mpegurl"}}
			for _, r := range rungs {
				out = append(out, Output{r.name + ".m3u8", "application/vnd.apple.mpegurl"}, Output{r.name + ".mp4", "video/mp4"})
			}
			return out
		}()},
	"thumbnails": {Name: "thumbnails", Summary: "JPEG sprite of 5 evenly spaced stills, 320 px wide", Outputs: []Output{{"sprite.jpg", "image/jpeg"}}, args: thumbnails},
}

// Lookup returns the named preset.
func Lookup(name string) (Preset, bool) {
	p, ok := presets[name]
	return p, ok
}

// Names lists the presets, sorted.
func Names() []string {
	var out []string
	for n := range presets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Args returns ffmpeg's arguments (without the program name) to encode in
// into dir; the outputs land in dir under the names in p.Outputs.
func (p Preset) Args(in, dir string, duration float64) []string {
	base := []string{"-hide_banner", "-nostdin", "-y", "-loglevel", "error"}
	return append(base, p.args(in, dir, duration)...)
}
