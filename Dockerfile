# One image for every role: `assistant run --stages=...` picks what a
# container does. Build: make docker, or
#   docker build --build-arg VERSION=$(git describe --always) --build-arg REVISION=$(git rev-parse HEAD) -t assistant .

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so source edits do not invalidate the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not in the build context, so the toolchain records no revision:
# it is passed in (make docker, or compose's build args) and stamped.
ARG VERSION=dev
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/assistant-dev/assistant/cli.version=${VERSION} -X github.com/assistant-dev/assistant/cli.revision=${REVISION}" \
      -o /out/assistant . \
 && /out/assistant version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/assistant /usr/local/bin/assistant
# config.yaml holds every default; override with environment variables or
# mount another file over it. Load reads ./config.yaml from the working dir.
COPY config.yaml /etc/assistant/config.yaml
WORKDIR /etc/assistant
USER nonroot:nonroot
ENV ASSISTANT_LOG_FORMAT=json
EXPOSE 8000
# No shell or curl in this image: the binary probes its own ops server
# (http.addr) and exits 0 only when /readyz answers 200.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["assistant", "healthcheck", "--ready", "--timeout", "4s"]
ENTRYPOINT ["assistant"]
CMD ["run"]
