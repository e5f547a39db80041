// Command migrate is the CloudFormation custom resource that applies the
// database schema on deploy, as the schema owner, and sets the app role's
// password (see lambdafn.Migrator). It serves no route.
package main

import "github.com/framebroker/framebroker/shared/lambdafn/migratefn"

func main() { migratefn.Main() }
