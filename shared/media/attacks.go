package media

import "strings"

// Attack is a hostile file whose references point at target: the
// regression corpus of issue 11, shared by the API, pipeline and worker
// tests. Format is the detected format a refusal should name ("" when the
// file is merely unreadable once confined).
type Attack struct {
	Name   string
	Format string
	Body   []byte
}

// Attacks returns every reference-following attack aimed at target (an
// http://host:port base URL of a listener that must receive nothing).
func Attacks(target string) []Attack {
	hls := func(seg string) []byte {
		return []byte("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n" + seg + "\n#EXT-X-ENDLIST\n")
	}
	host := strings.TrimPrefix(target, "http://")
	return []Attack{
		{"hls segment", "hls", hls(target + "/ssrf.ts")},
		{"hls query extension", "hls", hls(target + "/ssrf?x=.ts")},
		{"hls master", "hls", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n" + target + "/v.m3u8\n")},
		{"hls file reference", "hls", hls("file:/etc/passwd")},
		{"hls concat protocol", "hls", hls("concat:" + target + "/a.ts|" + target + "/b.ts")},
		{"hls subfile protocol", "hls", hls("subfile,,start,0,end,100,,:" + target + "/sub.ts")},
		{"hls tee protocol", "hls", hls("tee:" + target + "/tee.ts")},
		{"hls crypto protocol", "hls", hls("crypto+" + target + "/c.ts")},
		{"hls tcp", "hls", hls("tcp://" + host)},
		{"ffconcat url", "concat", []byte("ffconcat version 1.0\nfile '" + target + "/c.mp4'\n")},
		{"ffconcat image2 pattern", "concat", []byte("ffconcat version 1.0\nfile 'img%03d.png'\nfile '" + target + "/img%03d.png'\n")},
		{"ffconcat subfile", "concat", []byte("ffconcat version 1.0\nfile 'subfile,,start,0,end,10,,:" + target + "/s.mp4'\n")},
		{"dash manifest", "dash", []byte(`<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" type="static" mediaPresentationDuration="PT1S" minBufferTime="PT1S">
<BaseURL>` + target + `/</BaseURL><Period><AdaptationSet mimeType="video/mp4"><Representation id="1" bandwidth="1000">
<BaseURL>seg.mp4</BaseURL></Representation></AdaptationSet></Period></MPD>
`)},
	}
}
