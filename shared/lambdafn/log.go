package lambdafn

import (
	"log/slog"
	"os"

	"github.com/framebroker/framebroker/shared/httpx"
)

// SetupLogging installs the JSON slog handler (with request ids) on stderr
// as the default logger, at level (debug, info, warn, error; info if
// unknown). Every function calls it first, so even start-up failures are
// JSON lines CloudWatch can filter.
func SetupLogging(level string) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	slog.SetDefault(slog.New(httpx.LogHandler{Handler: slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})}))
}

// exit is os.Exit (tests replace it).
var exit = os.Exit

// Fatal logs a start-up failure as one JSON line ("msg": msg, "err": the
// error, plus attrs) and exits with status 1, which fails the Lambda's init
// (the invocation is answered with Runtime.ExitError and the next one
// retries the cold start). Errors here never carry secret values: the
// secret readers say which variable failed, not what it held.
func Fatal(msg string, err error, attrs ...any) {
	args := append([]any{"err", err.Error()}, attrs...)
	slog.Error("start-up failed: "+msg, args...)
	exit(1)
}
