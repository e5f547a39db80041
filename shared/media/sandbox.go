package media

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Media is hostile input (DESIGN §8). ffprobe and ffmpeg follow references
// inside many formats — HLS and DASH playlists, concat lists, image2
// patterns — and open any protocol (file:, concat:, subfile:, tee:, http:)
// a reference names. Every invocation therefore gets:
//
//   - a protocol allow-list of exactly what its one input needs
//     (https,tls,tcp for a presigned HTTPS URL; http,tcp for the local
//     store; file for a local copy), so a reference to another protocol
//     fails before anything is opened;
//   - a demuxer allow-list derived from the declared content type, none of
//     whose members follows references, so a playlist is refused before
//     its demuxer reads a single entry (which may name an allowed protocol:
//     an HLS playlist served over http names http segments);
//   - an I/O timeout (rw_timeout) and a process timeout.

// IOTimeout bounds each read of an input over the network.
const IOTimeout = 30 * time.Second

// ErrUnreadable is returned when ffprobe cannot read the input as media.
var ErrUnreadable = errors.New("media: input is not readable media")

// RefusedError is returned for an input in a format that is not accepted
// for its content type: Format names what ffmpeg (or Sniff) detected, e.g.
// "hls" or "concat".
type RefusedError struct {
	Format      string
	ContentType string
}

func (e *RefusedError) Error() string {
	if ReferenceFormat(e.Format) {
		return fmt.Sprintf("media: the file is a %s playlist or reference list (it names other files or URLs); only self-contained media is accepted", e.Format)
	}
	return fmt.Sprintf("media: the file's format %s is not accepted for content type %s", e.Format, e.ContentType)
}

// referenceFormats are demuxers (and ffmpeg protocols) that open other
// files or URLs named inside their input. None is ever on an allow-list.
var referenceFormats = map[string]bool{
	"hls": true, "applehttp": true, "dash": true, "concat": true, "image2": true, "tee": true,
	"subfile": true, "file": true, "smil": true, "mpd": true, "ffconcat": true, "m3u": true, "m3u8": true,
}

// ReferenceFormat reports whether name is a format that follows references.
func ReferenceFormat(name string) bool { return referenceFormats[name] }

// The demuxer families the allow-lists are built from (ffmpeg 5.1 names).
var (
	fmtMov      = []string{"mov"} // mov,mp4,m4a,3gp,3g2,mj2 (references in dref atoms are off by default)
	fmtMatroska = []string{"matroska"}
	fmtMXF      = []string{"mxf"}
	fmtWAV      = []string{"wav", "w64"}
	fmtAIFF     = []string{"aiff"}
	fmtFLAC     = []string{"flac"}
	fmtMP3      = []string{"mp3"}
	fmtAAC      = []string{"aac"}
	fmtPNG      = []string{"png_pipe"}
	fmtJPEG     = []string{"jpeg_pipe"}
	fmtTIFF     = []string{"tiff_pipe"}
	fmtEXR      = []string{"exr_pipe"}
)

// byType is the accepted demuxers per declared content type.
var byType = map[string][]string{
	"video/mp4": fmtMov, "video/quicktime": fmtMov, "video/x-m4v": fmtMov, "video/3gpp": fmtMov,
	"audio/mp4": fmtMov, "audio/x-m4a": fmtMov, "audio/m4a": fmtMov,
	"video/x-matroska": fmtMatroska, "video/webm": fmtMatroska, "audio/webm": fmtMatroska, "audio/x-matroska": fmtMatroska,
	"application/mxf": fmtMXF, "video/mxf": fmtMXF,
	"audio/wav": fmtWAV, "audio/x-wav": fmtWAV, "audio/wave": fmtWAV, "audio/vnd.wave": fmtWAV,
	"audio/aiff": fmtAIFF, "audio/x-aiff": fmtAIFF,
	"audio/flac": fmtFLAC, "audio/x-flac": fmtFLAC,
	"audio/mpeg": fmtMP3, "audio/mp3": fmtMP3,
	"audio/aac": fmtAAC, "audio/x-aac": fmtAAC,
	"image/png": fmtPNG, "image/jpeg": fmtJPEG, "image/tiff": fmtTIFF, "image/x-exr": fmtEXR, "image/aces": fmtEXR,
}

// AllFormats is every accepted demuxer: the allow-list for a content type
// that names no single format (application/octet-stream, other video/*),
// and for the worker, which sees only a URL.
func AllFormats() []string {
	seen := map[string]bool{}
	var out []string
	for _, fs := range byType {
		for _, f := range fs {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Formats is the demuxer allow-list for a declared content type.
func Formats(contentType string) []string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil {
		if fs, ok := byType[mt]; ok {
			return fs
		}
	}
	return AllFormats()
}

// Protocols is the protocol allow-list an input needs: https,tls,tcp for an
// HTTPS URL, http,tcp for a plain HTTP one (the local store) and file for a
// local path. Any other scheme is refused.
func Protocols(input string) (string, error) {
	if !strings.Contains(input, ":") || strings.HasPrefix(input, "/") {
		return "file", nil
	}
	u, err := url.Parse(input)
	if err != nil {
		return "", errors.New("media: input is neither a URL nor a path")
	}
	switch u.Scheme {
	case "https":
		return "https,tls,tcp", nil
	case "http":
		return "http,tcp", nil
	}
	return "", fmt.Errorf("media: input scheme %q is not allowed", u.Scheme)
}

// InputArgs are the ffmpeg/ffprobe options that confine the input that
// follows them (they go before its -i): protocol and format allow-lists and
// the I/O timeout. formats empty means AllFormats.
func InputArgs(input string, formats []string) ([]string, error) {
	protos, err := Protocols(input)
	if err != nil {
		return nil, err
	}
	if len(formats) == 0 {
		formats = AllFormats()
	}
	for _, f := range formats {
		if ReferenceFormat(f) {
			return nil, fmt.Errorf("media: %s may not be allowed", f)
		}
	}
	args := []string{"-protocol_whitelist", protos, "-format_whitelist", strings.Join(formats, ",")}
	if protos != "file" {
		args = append(args, "-rw_timeout", strconv.FormatInt(IOTimeout.Microseconds(), 10))
	}
	return args, nil
}

// Confine inserts InputArgs before every "-i INPUT" of an ffmpeg argv. It
// fails if argv has no input or an input another scheme than allowed.
func Confine(argv []string, formats []string) ([]string, error) {
	var out []string
	n := 0
	for i := 0; i < len(argv); i++ {
		if argv[i] == "-i" && i+1 < len(argv) {
			ia, err := InputArgs(argv[i+1], formats)
			if err != nil {
				return nil, err
			}
			out = append(out, ia...)
			out = append(out, argv[i], argv[i+1])
			i++
			n++
			continue
		}
		out = append(out, argv[i])
	}
	if n == 0 {
		return nil, errors.New("media: argv has no -i input")
	}
	return out, nil
}

// notOnWhitelist matches ffmpeg's refusal of a detected demuxer:
// "[hls @ 0x55…] Format not on whitelist 'mov'".
var notOnWhitelist = regexp.MustCompile(`\[([a-z0-9_,]+) @ 0x[0-9a-f]+\] Format not on whitelist`)

// refusedFormat returns the demuxer ffmpeg refused in stderr, or "".
func refusedFormat(stderr []byte) string {
	m := notOnWhitelist.FindSubmatch(stderr)
	if m == nil {
		return ""
	}
	name, _, _ := strings.Cut(string(m[1]), ",")
	return name
}

// SniffLen is how many leading bytes Sniff looks at.
const SniffLen = 4096

// Sniff names a playlist or reference-list format recognised in the first
// bytes of a file ("hls", "dash", "concat", "smil"), or returns "". It is
// the first of two checks (ffprobe's format allow-list is the second): it
// names formats ffmpeg would not detect at all without their demuxer.
func Sniff(head []byte) string {
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	b := bytes.TrimLeft(head, "\xef\xbb\xbf \t\r\n")
	switch {
	case bytes.HasPrefix(b, []byte("#EXTM3U")):
		return "hls"
	case bytes.HasPrefix(b, []byte("ffconcat")):
		return "concat"
	}
	if bytes.HasPrefix(b, []byte("<")) {
		l := bytes.ToLower(b)
		switch {
		case bytes.Contains(l, []byte("<mpd")):
			return "dash"
		case bytes.Contains(l, []byte("<smil")):
			return "smil"
		}
	}
	return ""
}
