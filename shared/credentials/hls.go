package credentials

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/framebroker/framebroker/shared/c2pa"
)

// Design note: Content Credentials for the HLS ladder.
//
// Each rung is one fragmented MP4 file (CMAF, single_file) sealed like an
// MP4: a C2PA box after ftyp and a c2pa.hash.bmff.v3 hash of the whole file
// (c2pa-rs verify_stream_hash; @contentauth/c2pa-wasm's fromBytes validates
// it). The alternative — C2PA's Merkle-tree BMFF hash, one leaf per
// fragment, which lets a player check each segment as it streams — is what
// c2pa-rs verifies for fragmented files stored as separate files
// (verify_stream_segment(s): an init segment holding the manifest plus one
// fragment file, and no file-level hash allowed); c2pa-wasm exposes it as
// WasmReader.fromBlobFragment. It fits a ladder of separate segment files,
// not single_file byte ranges, and needs the Merkle map layout of the
// assertion; the whole-file hash covers every byte a customer downloads
// and is read by every C2PA reader today. The cost is that the playlists'
// byte ranges move, which RewritePlaylist fixes.

// MaxPlaylist bounds an HLS playlist the sealer reads.
const MaxPlaylist = 1 << 20

// ErrPlaylist is wrapped by every refusal of a playlist.
var ErrPlaylist = errors.New("credentials: playlist refused")

func playlistErr(line int, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrPlaylist, line, fmt.Sprintf(format, args...))
}

// RewritePlaylist returns the HLS playlist pl with every byte range into a
// file that received Content Credentials moved to where those bytes now
// lie: moved maps a media file's name to the insertion its sealing made
// (c2pa.Embedded.Inserted). The EXT-X-MAP range (the init section ftyp …
// moov) grows by the inserted box, segment ranges after it move by its
// size. Every URI the playlist names (segments, EXT-X-MAP, variant and
// rendition playlists) must be one of names — a sibling output of the
// same job — so a worker cannot make a ladder point elsewhere. Byte-range
// offsets are always written out explicitly. changed reports whether any
// range moved.
func RewritePlaylist(pl []byte, names map[string]bool, moved map[string]c2pa.Insertion) (out []byte, changed bool, err error) {
	if len(pl) > MaxPlaylist {
		return nil, false, playlistErr(0, "larger than %d bytes", MaxPlaylist)
	}
	lines := strings.Split(string(pl), "\n")
	if len(lines) == 0 || strings.TrimRight(lines[0], "\r") != "#EXTM3U" {
		return nil, false, playlistErr(1, "does not start with #EXTM3U")
	}
	nameOK := func(n int, uri string) error {
		if !names[uri] {
			return playlistErr(n, "names %q, which is not an output of this job", uri)
		}
		return nil
	}
	var pending *byteRange // EXT-X-BYTERANGE awaiting its URI line
	pendingLine := 0
	next := map[string]int64{} // the end of the previous sub-range of each resource
	for i, raw := range lines {
		n := i + 1
		line := strings.TrimRight(raw, "\r")
		eol := raw[len(line):]
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-BYTERANGE:"):
			if pending != nil {
				return nil, false, playlistErr(n, "two EXT-X-BYTERANGE tags for one segment")
			}
			br, err := parseByteRange(strings.TrimPrefix(line, "#EXT-X-BYTERANGE:"))
			if err != nil {
				return nil, false, playlistErr(n, "%v", err)
			}
			pending, pendingLine = &br, i
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			attrs, err := parseAttrs(strings.TrimPrefix(line, "#EXT-X-MAP:"))
			if err != nil {
				return nil, false, playlistErr(n, "%v", err)
			}
			uri, ok := attrs.get("URI")
			if !ok {
				return nil, false, playlistErr(n, "EXT-X-MAP without URI")
			}
			if err := nameOK(n, uri); err != nil {
				return nil, false, err
			}
			v, ok := attrs.get("BYTERANGE")
			if !ok {
				continue
			}
			br, err := parseByteRange(v)
			if err != nil {
				return nil, false, playlistErr(n, "%v", err)
			}
			if br.off < 0 {
				br.off = 0 // EXT-X-MAP: a missing offset is 0 (RFC 8216 §4.3.2.5)
			}
			nb, moved := br.moved(moved[uri])
			changed = changed || moved
			attrs.set("BYTERANGE", `"`+nb.String()+`"`)
			lines[i] = "#EXT-X-MAP:" + attrs.String() + eol
		case strings.HasPrefix(line, "#EXT-X-MEDIA:") || strings.HasPrefix(line, "#EXT-X-I-FRAME-STREAM-INF:") ||
			strings.HasPrefix(line, "#EXT-X-SESSION-DATA:") || strings.HasPrefix(line, "#EXT-X-KEY:") ||
			strings.HasPrefix(line, "#EXT-X-SESSION-KEY:") || strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT:") ||
			strings.HasPrefix(line, "#EXT-X-RENDITION-REPORT:") || strings.HasPrefix(line, "#EXT-X-PART:") ||
			strings.HasPrefix(line, "#EXT-X-CONTENT-STEERING:") || strings.HasPrefix(line, "#EXT-X-DEFINE:"):
			// Tags that may name other resources: only sibling outputs.
			attrs, err := parseAttrs(line[strings.IndexByte(line, ':')+1:])
			if err != nil {
				return nil, false, playlistErr(n, "%v", err)
			}
			for _, k := range []string{"URI", "SERVER-URI", "IMPORT", "QUERYPARAM"} {
				if v, ok := attrs.get(k); ok && (k != "URI" || nameOK(n, v) != nil) {
					return nil, false, playlistErr(n, "%s=%q: only sibling outputs may be named", k, v)
				}
			}
		case strings.HasPrefix(line, "#"):
		default: // a URI line: a segment or a variant playlist
			if err := nameOK(n, line); err != nil {
				return nil, false, err
			}
			if pending == nil {
				continue
			}
			br := *pending
			if br.off < 0 {
				prev, ok := next[line]
				if !ok {
					return nil, false, playlistErr(pendingLine+1, "EXT-X-BYTERANGE without an offset and no previous range of %q", line)
				}
				br.off = prev
			}
			next[line] = br.off + br.n
			nb, moved := br.moved(moved[line])
			changed = changed || moved
			lines[pendingLine] = "#EXT-X-BYTERANGE:" + nb.String() + strings.TrimPrefix(lines[pendingLine], strings.TrimRight(lines[pendingLine], "\r"))
			pending = nil
		}
	}
	if pending != nil {
		return nil, false, playlistErr(pendingLine+1, "EXT-X-BYTERANGE without a segment URI")
	}
	return []byte(strings.Join(lines, "\n")), changed, nil
}

// byteRange is an HLS byte range: n bytes at off (off < 0: not given).
type byteRange struct{ n, off int64 }

// maxRange bounds byte-range numbers (no media file is near 2^53 bytes).
const maxRange = 1 << 53

func parseByteRange(s string) (byteRange, error) {
	ns, offs, hasOff := strings.Cut(s, "@")
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil || n < 0 || n > maxRange {
		return byteRange{}, fmt.Errorf("bad byte range %q", s)
	}
	br := byteRange{n: n, off: -1}
	if hasOff {
		o, err := strconv.ParseInt(offs, 10, 64)
		if err != nil || o < 0 || o > maxRange {
			return byteRange{}, fmt.Errorf("bad byte range %q", s)
		}
		br.off = o
	}
	return br, nil
}

func (b byteRange) moved(in c2pa.Insertion) (byteRange, bool) {
	if in.Len == 0 {
		return b, false
	}
	off, n := in.Map(b.off, b.n)
	return byteRange{n: n, off: off}, off != b.off || n != b.n
}

func (b byteRange) String() string {
	return strconv.FormatInt(b.n, 10) + "@" + strconv.FormatInt(b.off, 10)
}

// attrList is an HLS attribute list, in order.
type attrList []struct{ k, v string }

// parseAttrs splits an attribute list (RFC 8216 §4.2) on the commas
// outside quoted strings.
func parseAttrs(s string) (attrList, error) {
	var out attrList
	for len(s) > 0 {
		k, rest, ok := strings.Cut(s, "=")
		if !ok || k == "" || strings.ContainsAny(k, `",`) {
			return nil, fmt.Errorf("bad attribute list")
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted string")
			}
			v, rest = rest[:end+2], rest[end+2:]
		} else {
			v, rest, _ = strings.Cut(rest, ",")
			rest = "," + rest
			if rest == "," {
				rest = ""
			}
		}
		out = append(out, struct{ k, v string }{k, v})
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("bad attribute list")
		}
		s = rest[1:]
	}
	return out, nil
}

// get returns attribute k's value, unquoted.
func (a attrList) get(k string) (string, bool) {
	for _, kv := range a {
		if kv.k == k {
			return strings.Trim(kv.v, `"`), true
		}
	}
	return "", false
}

func (a attrList) set(k, v string) {
	for i := range a {
		if a[i].k == k {
			a[i].v = v
		}
	}
}

func (a attrList) String() string {
	var b bytes.Buffer
	for i, kv := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv.k + "=" + kv.v)
	}
	return b.String()
}
