// Command initonly imports every package the functions link and reaches
// none of them: its binary holds only what the packages' initialisers
// reach. TestFunctionLinks subtracts it, so a function "links" a package
// only when it reaches code of it beyond that.
package main

import (
	_ "github.com/framebroker/framebroker/shared/app"
	_ "github.com/framebroker/framebroker/shared/health"
	_ "github.com/framebroker/framebroker/shared/lambdafn/appfn"
	_ "github.com/framebroker/framebroker/shared/lambdafn/authfn"
	_ "github.com/framebroker/framebroker/shared/lambdafn/keyringinit"
	_ "github.com/framebroker/framebroker/shared/lambdafn/migratefn"
)

func main() {}
