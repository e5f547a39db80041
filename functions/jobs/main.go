// Command jobs is the Lambda serving the "jobs" routes of the router table
// (submit, read, trail, cancel). It holds no logic: the handlers are the
// ones the local server runs.
package main

import (
	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/lambdafn/appfn"
)

func main() { appfn.Main("jobs", app.Jobs) }
