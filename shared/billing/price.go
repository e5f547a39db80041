package billing

import "math"

// PricePerMinute is the pricing model, in ONE place: Micros per minute of
// output, by preset. A job's output lasts as long as its inputs (the
// thumbnails sprite is priced by the minutes it samples).
var PricePerMinute = map[string]Micros{
	"mp4-h264-720p":  10_000, // $0.010 / min
	"mp4-h264-1080p": 20_000, // $0.020 / min
	"hls-ladder":     45_000, // $0.045 / min (three rungs)
	"thumbnails":     2_000,  // $0.002 / min
}

// MinBilledSeconds is the least a job is billed for.
const MinBilledSeconds = 1.0

// Price is the cost of encoding seconds of input with preset: the price per
// minute × minutes, rounded up to a whole Micro, at least MinBilledSeconds.
// An unknown preset costs 0 (submission refuses unknown presets anyway).
func Price(preset string, seconds float64) Micros {
	rate, ok := PricePerMinute[preset]
	if !ok || math.IsNaN(seconds) {
		return 0
	}
	seconds = math.Max(seconds, MinBilledSeconds)
	return Micros(math.Ceil(float64(rate) * seconds / 60))
}
