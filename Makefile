# Framebroker developer targets. `make dev` serves the API on a local stack;
# `make test` runs the suite against a fresh one (see cmd/framebroker).
#
# The CLI is built into .local/bin rather than started with `go run`, which
# turns every exit status into 1 and reports Ctrl-C as a failure.

GO          ?= go
FRAMEBROKER ?= .local/bin/framebroker
PKG         ?= ./...
TEST_FLAGS  ?= -count=1
BENCH_FLAGS ?= -run '^$$' -bench . -benchtime 2s -p 1 -timeout 12m

.PHONY: install cli dev test bench build synth deploy clean

install:
	scripts/install.sh

cli:
	@command -v $(GO) >/dev/null 2>&1 || { echo "make cli: '$(GO)' is not on PATH: install Go (the version go.mod names), then run make cli again" >&2; exit 1; }
	$(GO) build -o .local/bin/framebroker ./cmd/framebroker
	$(GO) build -o .local/bin/fb-worker ./ffmpeg-layer/worker

dev: install cli
	$(FRAMEBROKER) dev

test: install cli
	$(FRAMEBROKER) stack --fresh -- $(GO) test $(TEST_FLAGS) $(PKG)

# Benchmarks run one package at a time (-p 1: figures of one package are not
# skewed by another's load), each package binary bounded by -timeout and
# every wait inside a benchmark by its own deadline, so the run cannot hang.
# The last lines are one table (cmd/benchtable): name | figure | reference |
# ratio | goal | met.
bench: install cli
	@mkdir -p .local; start=$$(date +%s); \
	( $(FRAMEBROKER) stack -- $(GO) test $(BENCH_FLAGS) $(PKG); echo $$? > .local/bench.status ) 2>&1 | tee .local/bench.txt; \
	$(GO) run ./cmd/benchtable -elapsed $$(( $$(date +%s) - start )) < .local/bench.txt; \
	exit $$(cat .local/bench.status)

# Lambda bootstraps (linux/arm64, lambda.norpc, stripped) into
# build/lambda/<fn>/bootstrap, one per functions/<fn>; then, without Docker,
# from Debian 12 arm64 packages (ffmpeg-layer/fetch-debs.sh, a private apt
# state under .local/debian-arm64): the worker image (OCI layout in
# build/worker-image, its digest in build/worker-image/DIGEST, with
# packages.json). The image is also the probe function's (a container-image
# Lambda: Debian's ffprobe does not fit a zip function), so its Go layer
# holds the worker and the probe bootstrap.
DEBS ?= .local/debian-arm64
build:
	@rm -rf build/bin build/lambda build/ffmpeg-layer && mkdir -p build/bin build/lambda
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/bin/ ./functions/...
	@for f in build/bin/*; do mkdir -p build/lambda/$${f##*/} && mv $$f build/lambda/$${f##*/}/bootstrap; done; rmdir build/bin
	@du -b build/lambda/*/bootstrap | awk '{printf "build: %-40s %5.1f MiB\n", $$2, $$1/1048576}'
	ffmpeg-layer/fetch-debs.sh $(DEBS)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o build/worker/worker ./ffmpeg-layer/worker
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/worker/probe ./ffmpeg-layer/probe
	$(GO) run ./ffmpeg-layer/artifacts image -debs $(DEBS)/debs -worker build/worker/worker -probe build/worker/probe -out build/worker-image

# cdk.out from the CDK app (infra/), offline: no AWS credentials needed;
# then the idle month of each synthesized stack (infra/cost).
synth: build
	scripts/cdk.sh synth --quiet
	@for t in cdk.out/*.template.json; do $(GO) run ./infra/cost/costmodel $$t; done

# cdk deploy into the account and region of the AWS credentials in use
# (README "Deploying to AWS"); DEPLOY_FLAGS passes options through. The
# worker image is pushed by digest (no Docker: ECR login from the AWS
# credentials) to the ECR repository WORKER_REPO of that account and region
# (default: the CDK bootstrap's container-assets repository), recorded in
# build/worker-image.json, and the stack runs exactly that digest as the
# Fargate worker and the probe function (context workerImageDigest, and
# workerImageRepository unless default).
WORKER_REPO ?= cdk-bootstrap
deploy: build
	$(GO) run ./ffmpeg-layer/artifacts push -ecr -layout build/worker-image -repo $(WORKER_REPO) -record build/worker-image.json
	scripts/cdk.sh deploy -c workerImageDigest=$$(cat build/worker-image/DIGEST) \
		$(if $(filter-out cdk-bootstrap,$(WORKER_REPO)),-c workerImageRepository=$(WORKER_REPO)) $(DEPLOY_FLAGS)

clean:
	rm -rf .local/dev .local/test cdk.out
