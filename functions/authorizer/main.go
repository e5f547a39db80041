// Command authorizer is the API Gateway Lambda authorizer: it turns a bearer
// session token into a principal with the same code the local server's
// guard runs.
package main

import "github.com/framebroker/framebroker/shared/lambdafn/authfn"

func main() { authfn.Main() }
