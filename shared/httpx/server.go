package httpx

import (
	"net/http"
	"time"
)

// Timeouts of the local server (AWS fronts the Lambdas with API Gateway,
// which has its own). A client gets ReadHeaderTimeout to send its headers,
// ReadTimeout for the whole request including the body (MaxBody is 1 MiB,
// which needs only ~17 KiB/s to arrive in time), and a kept-alive
// connection is closed after IdleTimeout without a request. There is no
// write timeout: streamed replies (ledger export) may run long.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 60 * time.Second
	IdleTimeout       = 120 * time.Second
)

// NewServer returns the local HTTP server for h with the timeouts above.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
	}
}
