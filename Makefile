# Framebroker developer targets. `make dev` serves the API on a local stack;
# `make test` runs the suite against a fresh one (see cmd/framebroker).
#
# The CLI is built into .local/bin rather than started with `go run`, which
# turns every exit status into 1 and reports Ctrl-C as a failure.

GO          ?= go
FRAMEBROKER ?= .local/bin/framebroker
PKG         ?= ./...
TEST_FLAGS  ?= -count=1
BENCH_FLAGS ?= -run '^$$' -bench . -benchtime 2s

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

bench: install cli
	$(FRAMEBROKER) stack -- $(GO) test $(BENCH_FLAGS) $(PKG)

# Lambda bootstraps (linux/arm64, lambda.norpc, stripped) into
# build/lambda/<fn>/bootstrap, one per functions/<fn>. The ffprobe layer
# needs Docker (make build LAYER=docker); without it build/ffmpeg-layer is a
# placeholder that synth accepts and deploy refuses.
build:
	@rm -rf build/bin build/lambda && mkdir -p build/bin build/lambda
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/bin/ ./functions/...
	@for f in build/bin/*; do mkdir -p build/lambda/$${f##*/} && mv $$f build/lambda/$${f##*/}/bootstrap; done; rmdir build/bin
	@if [ "$(LAYER)" = docker ]; then rm -rf build/ffmpeg-layer && ffmpeg-layer/build-layer.sh build/ffmpeg-layer; \
	elif [ ! -x build/ffmpeg-layer/bin/ffprobe ]; then mkdir -p build/ffmpeg-layer && \
		echo "placeholder: make build LAYER=docker builds the ffprobe layer" > build/ffmpeg-layer/PLACEHOLDER && \
		echo "build: ffprobe layer is a placeholder (make build LAYER=docker)"; fi

# cdk.out from the CDK app (infra/), offline: no AWS credentials needed;
# then the idle month of each synthesized stack (infra/cost).
synth: build
	scripts/cdk.sh synth --quiet
	@for t in cdk.out/*.template.json; do $(GO) run ./infra/cost/costmodel $$t; done

# cdk deploy into the account and region of the AWS credentials in use
# (README "Deploying to AWS"); DEPLOY_FLAGS passes options through.
deploy: build
	@[ -x build/ffmpeg-layer/bin/ffprobe ] || { echo "deploy: the ffprobe layer is a placeholder: make build LAYER=docker" >&2; exit 1; }
	scripts/cdk.sh deploy $(DEPLOY_FLAGS)

clean:
	rm -rf .local/dev .local/test cdk.out
