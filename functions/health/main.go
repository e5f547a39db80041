// Command health is the Lambda serving GET /healthz. It links the HTTP
// plumbing and the health route only: no database, no secrets, no domain.
package main

import (
	"github.com/framebroker/framebroker/shared/health"
	"github.com/framebroker/framebroker/shared/lambdafn"
)

func main() { lambdafn.ServeRoutes(health.Routes()) }
