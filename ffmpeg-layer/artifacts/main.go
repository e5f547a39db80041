// Command artifacts assembles what AWS runs besides the Lambda bootstraps,
// from Debian 12 arm64 packages (ffmpeg-layer/fetch-debs.sh downloads them)
// and the cross-compiled Go worker, without Docker:
//
//	artifacts image -debs DIR -worker build/worker/worker -probe build/worker/probe -out build/worker-image
//	    the worker image (linux/arm64, OCI layout): ffmpeg and ffprobe with
//	    exactly the libraries they load, the CA bundle, the worker as
//	    entrypoint, user nobody, and the probe function's bootstrap (the
//	    same image is the probe Lambda's, with /usr/local/bin/probe as its
//	    entry point: Debian's ffprobe closure does not fit a zip Lambda);
//	    digest in DIGEST
//	artifacts push -layout build/worker-image -repo HOST/REPO [-ecr]
//	    pushes the image by digest and writes the pushed reference
//	    (HOST/REPO@sha256:…) to build/worker-image.json
//
// The image is reproducible (fixed timestamps and owners, sorted
// entries) and carries packages.json: every Debian package (name, version,
// sha256 of the .deb) whose files it contains.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: artifacts image|push [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	debs := fs.String("debs", ".local/debian-arm64/debs", "directory of Debian arm64 .deb files")
	out := fs.String("out", "", "output directory")
	worker := fs.String("worker", "", "the worker binary (linux/arm64)")
	probe := fs.String("probe", "", "the probe function's bootstrap (linux/arm64)")
	layoutDir := fs.String("layout", "build/worker-image", "OCI layout to push")
	repo := fs.String("repo", "", "registry repository to push to (HOST/REPO)")
	record := fs.String("record", "build/worker-image.json", "where push writes the pushed reference")
	ecr := fs.Bool("ecr", false, "authenticate to ECR with the AWS credentials in use")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "image":
		var digest string
		digest, err = buildImage(*debs, *worker, *probe, *out)
		if err == nil {
			fmt.Println(digest)
		}
	case "push":
		var ref string
		ref, err = push(*layoutDir, *repo, *record, *ecr)
		if err == nil {
			fmt.Println(ref)
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "artifacts:", err)
		os.Exit(1)
	}
}
