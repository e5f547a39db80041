package app

import (
	"context"

	"github.com/framebroker/framebroker/shared/asset"
	"github.com/framebroker/framebroker/shared/config"
	"github.com/framebroker/framebroker/shared/media"
	"github.com/framebroker/framebroker/shared/media/probefn/invoke"
)

// proberFromConfig is the functions' media prober: the probe Lambda when
// cfg names one (in AWS ffprobe does not fit beside a zip function:
// shared/media/probefn), else ffprobe in this process.
func proberFromConfig(ctx context.Context, cfg config.Config) (asset.Prober, error) {
	if cfg.ProbeFunction == "" {
		return media.FFprobe{}, nil
	}
	return invoke.New(ctx, cfg.ProbeFunction)
}
