package app

import (
	"net/http"

	"github.com/framebroker/framebroker/shared/app/openapidoc"
	"github.com/framebroker/framebroker/shared/guard"
	"github.com/framebroker/framebroker/shared/openapi"
	"github.com/framebroker/framebroker/shared/provenance"
)

// apiInfo heads the API document.
var apiInfo = openapi.Info{
	Title:   "Framebroker API",
	Version: "1",
	Description: "Video encoding with a tamper-evident ledger and signed provenance. JSON in and out; " +
		"errors are application/problem+json; writes that cost money or work take an Idempotency-Key header. " +
		"Generated from the router table: every route the server serves is here.",
}

// jobOutputEvent is one output in a job event's payload.
type jobOutputEvent struct {
	Name   string `json:"name"`
	Asset  string `json:"asset"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// jobEvent is the payload of job.completed and job.failed (built in
// newPipeline's Notify listener).
type jobEvent struct {
	Job     string           `json:"job"`
	Preset  string           `json:"preset"`
	Status  string           `json:"status"`
	Outputs []jobOutputEvent `json:"outputs"`
}

// webhookEvents is the catalogue of events delivered to webhook endpoints.
var webhookEvents = []openapi.Webhook{
	{Type: "job.completed", Summary: "An encode job finished; its outputs are verified and recorded.", Payload: jobEvent{}},
	{Type: "job.failed", Summary: "An encode job failed after its retries.", Payload: jobEvent{}},
}

// serveOpenAPI serves the committed document (openapidoc), which
// TestOpenAPIDocumentIsCurrent keeps equal to the one generated from the
// full table: the local server and the provenance function serve the same
// bytes, and the provenance function links neither the generator nor the
// other functions' services.
var serveOpenAPI = openapi.ServeJSON(openapidoc.JSON)

// openAPIRoute serves the API document.
func openAPIRoute() guard.Route {
	return guard.Route{Method: "GET", Pattern: openapi.Path, Policy: guard.Public(), Function: provenance.Function,
		Summary: "This API's OpenAPI 3.1 document", Reply: openapi.Document{},
		Handler: func(w http.ResponseWriter, r *http.Request, _ *guard.Access) error {
			serveOpenAPI(w, r)
			return nil
		}}
}

// buildOpenAPI generates the document from the finished table (the test
// harness validates every exchange against it).
func (a *App) buildOpenAPI() error {
	doc, err := openapi.Build(apiInfo, a.routes, webhookEvents)
	if err != nil {
		return err
	}
	a.openAPI = doc
	return nil
}

// OpenAPI is the API document generated from the router table.
func (a *App) OpenAPI() openapi.Document { return a.openAPI }
