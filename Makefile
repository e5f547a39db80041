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

.PHONY: install cli dev test bench build synth clean

install:
	scripts/install.sh

cli:
	$(GO) build -o .local/bin/framebroker ./cmd/framebroker
	$(GO) build -o .local/bin/fb-worker ./ffmpeg-layer/worker

dev: install cli
	$(FRAMEBROKER) dev

test: install cli
	$(FRAMEBROKER) stack --fresh -- $(GO) test $(TEST_FLAGS) $(PKG)

bench: install cli
	$(FRAMEBROKER) stack -- $(GO) test $(BENCH_FLAGS) $(PKG)

build:
	@echo "build: not yet"

synth:
	@echo "synth: not yet"

clean:
	rm -rf .local/dev .local/test cdk.out
