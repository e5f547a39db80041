// Package openapidoc is the API's OpenAPI 3.1 document as committed JSON,
// generated from the full router table (shared/app). The provenance
// function serves it, like the local server, without wiring every route's
// service just to describe it. TestOpenAPIDocumentIsCurrent (shared/app)
// fails when the table and this file differ; regenerate with
//
//	go test ./shared/app -run TestOpenAPIDocumentIsCurrent -update
package openapidoc

import _ "embed"

// JSON is the document (openapi.Document.JSON of the full table).
//
//go:embed openapi.json
var JSON []byte
