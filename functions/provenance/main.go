// Command provenance is the Lambda serving the "provenance" routes of the router table
// (see shared/app). It holds no logic: the handlers are the ones the local
// server runs.
package main

import (
	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/lambdafn/appfn"
)

func main() { appfn.Main("provenance", app.Provenance) }
