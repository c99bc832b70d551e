# assistant — build, run and test. `make test` is exactly what CI runs.

GO      ?= go
BIN     := bin/assistant
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/assistant-dev/assistant/cli.version=$(VERSION)

.PHONY: build run services test bench lint

## build: compile bin/assistant with the version stamped in
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

## services: make sure local Redis and PostgreSQL are up
services:
	bash scripts/services.sh

## run: build and run every enabled stage with config.yaml against local Redis/PostgreSQL
run: build services
	./$(BIN) run --config config.yaml

## test: services, gofmt, go vet, go test -race (the CI script)
test:
	bash .ci/run

## bench: run every benchmark once (a smoke test of the benchmarks)
bench:
	$(GO) test -run '^$$' -bench . -benchtime=1x ./...

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
