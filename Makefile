# assistant — build, run and test. `make test` is exactly what CI runs.

GO      ?= go
BIN     := bin/assistant
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The revision is stamped explicitly: the toolchain records none with
# -buildvcs=false, in a Docker build (no .git in the context) or in CI
# checkouts that disable VCS stamping.
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED ?= $(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo true)
PKG      := github.com/assistant-dev/assistant/cli
LDFLAGS  := -s -w -X $(PKG).version=$(VERSION) -X $(PKG).revision=$(REVISION) -X $(PKG).modified=$(MODIFIED)

.PHONY: build run services test bench demo lint docker image

## build: compile bin/assistant, static, with the version stamped in (the
## release flags: the same as scripts/image.sh and the Dockerfile)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $(BIN) .

## image: build the release image with podman, pulling nothing (FROM scratch:
## the static binary, config.yaml, the host's CA bundle; uid 65532)
IMAGE ?= assistant
image:
	IMAGE=$(IMAGE) VERSION=$(VERSION) REVISION=$(REVISION) GO=$(GO) bash scripts/image.sh

## docker: build the image in a Docker builder (registries), version and revision stamped
docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t assistant:$(VERSION) -t assistant:latest .

## services: make sure local Redis and PostgreSQL are up
services:
	bash scripts/services.sh

## run: build and run every enabled stage with config.yaml against local Redis/PostgreSQL
## (the 2023–2024 sample is kept posts.receipt_floor after ingest: docs/retention.md)
run: build services
	./$(BIN) run --config config.yaml

## test: services, gofmt, go vet, go test -race (the CI script)
test:
	bash .ci/run

CORPUS ?= testdata/telegram-news-ru/sample.jsonl
N       ?= 50000

## bench: runner vs raw go-redis loop, persist vs raw UPSERT, the whole pipeline (CORPUS=..., N=...)
bench: build services
	./$(BIN) bench runner
	./$(BIN) bench persist
	./$(BIN) bench pipeline --corpus $(CORPUS) --n $(N)

## demo: start services, migrate, ingest the sample, run until stored, print a summary
demo:
	bash scripts/demo.sh

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
