# syntax=docker/dockerfile:1
# Multi-stage: a static binary on a minimal, non-root base.
#   docker build -t mcp-secrets .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/mcp-secrets ./cmd/mcp-secrets

# The launcher alone: `mcp-secrets run|exec|check` for servers shipped as
# static binaries. distroless/static has no shell and runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot AS launcher
COPY --from=build /out/mcp-secrets /usr/local/bin/mcp-secrets
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/mcp-secrets"]
