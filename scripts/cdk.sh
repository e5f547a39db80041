#!/usr/bin/env bash
# Runs the pinned AWS CDK CLI from the repository root, installing it on
# first use into .local/cdk with npm (no global install, no package.json).
# `make synth` and `make deploy` call it; any cdk command works:
#   scripts/cdk.sh diff
set -euo pipefail

VERSION=2.1148.1 # the `latest` npm tag (3.0.0) is older and refuses the assembly schema
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX="$REPO/.local/cdk"
CDK="$PREFIX/node_modules/.bin/cdk"

command -v node >/dev/null 2>&1 || { echo "cdk: node is not on PATH (Node 20+ needed)" >&2; exit 1; }
if ! [ -x "$CDK" ] || [ "$("$CDK" --version 2>/dev/null | cut -d' ' -f1)" != "$VERSION" ]; then
	echo "cdk: installing aws-cdk@$VERSION into .local/cdk" >&2
	npm install --prefix "$PREFIX" --no-save --no-audit --no-fund --loglevel=error "aws-cdk@$VERSION" >&2
fi

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
export CDK_DISABLE_CLI_TELEMETRY=true
cd "$REPO"
exec "$CDK" --no-notices "$@"
