#!/usr/bin/env bash
# Builds the release image with podman, pulling nothing (`make image`): a
# static binary (CGO_ENABLED=0, -trimpath, version and revision stamped),
# config.yaml and this host's CA bundle in a FROM scratch image
# (deploy/image/Containerfile) that runs as uid 65532.
#
#   IMAGE     image name (default assistant), tagged :VERSION and :latest
#   VERSION   default: git describe;  REVISION  default: git rev-parse HEAD
#   CA_BUNDLE default /etc/ssl/certs/ca-certificates.crt
#   CONTEXT   keep the build context (binary, config, bundle) in this directory
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-assistant}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
REVISION=${REVISION:-$(git rev-parse HEAD 2>/dev/null || true)}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
GO=${GO:-go}
PKG=github.com/assistant-dev/assistant/cli

command -v podman >/dev/null || { echo "image: podman is not installed (apt-get install podman)" >&2; exit 1; }
[ -r "$CA_BUNDLE" ] || { echo "image: no CA bundle at $CA_BUNDLE (apt-get install ca-certificates, or CA_BUNDLE=...)" >&2; exit 1; }

if [ -n "${CONTEXT:-}" ]; then
	ctx=$CONTEXT
	mkdir -p "$ctx"
else
	ctx=$(mktemp -d)
	trap 'rm -rf "$ctx"' EXIT
fi

# The same flags as the Dockerfile's build (deploy/image_test.go compares).
CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=false \
	-ldflags "-s -w -X ${PKG}.version=${VERSION} -X ${PKG}.revision=${REVISION}" \
	-o "$ctx/assistant" .
cp config.yaml "$ctx/config.yaml"
cp "$CA_BUNDLE" "$ctx/ca-certificates.crt"

podman build --pull=never --format docker -f deploy/image/Containerfile \
	-t "${IMAGE}:${VERSION}" -t "${IMAGE}:latest" "$ctx" >&2
echo "${IMAGE}:${VERSION}"
