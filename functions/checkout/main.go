// Command checkout is the Lambda serving the "checkout" routes of the router table
// (see shared/app). It holds no logic: the handlers are the ones the local
// server runs.
package main

import (
	"github.com/framebroker/framebroker/shared/app"
	"github.com/framebroker/framebroker/shared/lambdafn/appfn"
)

func main() { appfn.Main("checkout", app.Checkout) }
