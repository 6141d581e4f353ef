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

# The sidecar: `mcp-secrets serve` with node, for npm MCP servers. The
# servers of examples/kubernetes are installed here, so nothing is
# downloaded when a session starts and the root filesystem can be
# read-only (mount an emptyDir on /tmp, HOME). tini reaps what servers'
# own children leave behind: mcp-secrets runs many supervisors, which
# must not reap each other's children.
#   docker build --target sidecar -t mcp-secrets:sidecar .
FROM node:20-bookworm-slim AS sidecar
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
RUN npm install --global --no-audit --no-fund \
      @modelcontextprotocol/server-github@2025.4.8 \
      @modelcontextprotocol/server-postgres@0.6.2 \
 && npm cache clean --force
COPY --from=build /out/mcp-secrets /usr/local/bin/mcp-secrets
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp mcp
USER 10001:10001
ENV HOME=/tmp NPM_CONFIG_CACHE=/tmp/.npm NPM_CONFIG_UPDATE_NOTIFIER=false
EXPOSE 8000 9090
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/mcp-secrets"]
CMD ["serve", "--config", "/etc/mcp-secrets/mcp.json"]
