// Command probe is the probe function's bootstrap: a container-image Lambda
// from the worker image (ffmpeg-layer/artifacts puts it at
// /usr/local/bin/probe; the function's ImageConfig makes it the entry
// point). It runs the confined ffprobe (media.FFprobe) on one presigned URL
// per invocation and answers probefn.Reply. FRAMEBROKER_FFPROBE overrides
// the ffprobe path (tests run a host-built twin).
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/framebroker/framebroker/shared/lambdafn"
	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/media/probefn"
)

// FFprobe is where the image has ffprobe.
const FFprobe = "/usr/bin/ffprobe"

func main() {
	lambdafn.SetupLogging(os.Getenv("FRAMEBROKER_LOG_LEVEL"))
	path := FFprobe
	if p := os.Getenv("FRAMEBROKER_FFPROBE"); p != "" {
		path = p
	}
	lambda.Start(probefn.Handler(media.FFprobe{Path: path, Timeout: probefn.MaxTimeout}))
}
