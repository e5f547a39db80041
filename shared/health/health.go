// Package health is the liveness route, GET /healthz. It touches nothing
// (no database, no store), so the health Lambda links only the HTTP
// plumbing.
package health

import (
	"net/http"

	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/httpx"
)

// Function is the Lambda serving /healthz.
const Function = "health"

// Status is the reply of GET /healthz.
type Status struct {
	Status string `json:"status"`
}

// Routes is the health route of the router table.
func Routes() []guard.Route {
	return []guard.Route{{Method: "GET", Pattern: "/healthz", Policy: guard.Public(), Handler: handle, Function: Function,
		Summary: "Liveness", Reply: Status{}}}
}

func handle(w http.ResponseWriter, _ *http.Request, _ *guard.Access) error {
	httpx.JSON(w, http.StatusOK, Status{Status: "ok"})
	return nil
}
