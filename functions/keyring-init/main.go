// Command keyring-init is the custom resource Lambda that fills the
// keyring secret with fresh signing keys on the stack's first deploy.
package main

import "github.com/framebroker/framebroker/shared/lambdafn/keyringinit"

func main() { keyringinit.Main() }
