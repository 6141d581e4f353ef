# mcp-secrets. `make demo` and `make test` work on a fresh machine with Go,
# node/npm and (for the tests) PostgreSQL and strace; .ci/run installs those.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN       := bin/mcp-secrets
# Test servers are built once per machine into a cache keyed by their go.sum.
CACHE     ?= $(HOME)/.cache/mcp-secrets
VAULT_BIN := $(CACHE)/vault-$(shell sha256sum tools/vault/go.sum | cut -c1-16)/vault
CT_BIN    := $(CACHE)/consul-template-v0.41.1/consul-template
NPM_STAMP := tools/npm/node_modules/.installed
# Two cores: two packages at a time.
TESTFLAGS ?= -p 2 -count=1 -timeout 20m
FUZZTIME  ?= 10s

export MCP_SECRETS_VAULT_BIN := $(VAULT_BIN)
export MCP_SECRETS_CONSUL_TEMPLATE := $(CT_BIN)

.PHONY: build demo test unit fuzz bench lint vault npm clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/mcp-secrets
	$(GO) build -o bin/showenv ./examples/showenv

# The main job on the bundled local .env: check, then run a child.
demo: build
	PATH="$(CURDIR)/bin:$$PATH" sh examples/local/demo.sh

# Every test, against real servers the tests start, then the fuzz targets.
test: vault npm
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...
	$(MAKE) fuzz

# Without the real servers (tests that need them skip under -short).
unit:
	$(GO) test -short $(TESTFLAGS) ./...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./providers
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./providers/dotenv
	$(GO) test -run '^$$' -fuzz '^FuzzRedact$$' -fuzztime $(FUZZTIME) ./redact
	$(GO) test -run '^$$' -fuzz '^FuzzScan$$' -fuzztime $(FUZZTIME) ./jsonrpc
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./audit/mcpconfig
	$(GO) test -run '^$$' -fuzz '^FuzzScanConfig$$' -fuzztime $(FUZZTIME) ./audit
	$(GO) test -run '^$$' -fuzz '^FuzzDefinitionLines$$' -fuzztime $(FUZZTIME) ./audit
	$(GO) test -run '^$$' -fuzz '^FuzzAssignment$$' -fuzztime $(FUZZTIME) ./providers/dotenv

# Go benchmarks (rotation latency per store and against consul-template,
# polling cost, providers, redaction, the MCP relay), then the table of whole
# processes (launch overhead, MCP latency and throughput, serve).
bench: vault npm $(CT_BIN) build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...
	$(GO) run ./internal/bench -mcp-secrets $(BIN) -consul-template $(CT_BIN)

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

vault: $(VAULT_BIN)
$(VAULT_BIN): tools/vault/go.mod tools/vault/go.sum
	mkdir -p $(dir $@)
	cd tools/vault && GOSUMDB=off GOFLAGS=-mod=mod $(GO) build -o $@ github.com/hashicorp/vault

$(CT_BIN):
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) GOSUMDB=off $(GO) install github.com/hashicorp/consul-template@v0.41.1

npm: $(NPM_STAMP)
$(NPM_STAMP): tools/npm/package.json tools/npm/package-lock.json
	cd tools/npm && npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf bin
