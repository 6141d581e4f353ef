# mcp-secrets. `make demo` and `make test` work on a fresh machine with Go,
# node/npm and (for the tests) PostgreSQL, strace and wine64; .ci/run
# installs those.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin/mcp-secrets
# Test servers are built once per machine into a cache keyed by their go.sum.
CACHE     ?= $(HOME)/.cache/mcp-secrets
VAULT_BIN := $(CACHE)/vault-$(shell sha256sum tools/vault/go.sum | cut -c1-16)/vault
CT_BIN    := $(CACHE)/consul-template-v0.41.1/consul-template
# The Kubernetes API server of the webhook and manifest tests (etcd is
# Debian's etcd-server). It calls itself by this version, which kubectl
# and clients read.
KUBE_VERSION := $(shell sed -n 's/^require k8s.io\/kubernetes v1\./1./p' tools/kube/go.mod)
KUBE_BIN  := $(CACHE)/kube-$(shell sha256sum tools/kube/go.sum | cut -c1-16)/kube-apiserver
NPM_STAMP := tools/npm/node_modules/.installed
# Two cores: two packages at a time.
TESTFLAGS ?= -p 2 -count=1 -timeout 20m
# A count, not a duration: Go 1.26's fuzzer can fail a target with "context
# deadline exceeded" when a duration ends mid-run (golang/go#75804).
FUZZTIME  ?= 30000x
# The supervisor, rotation, the sidecar and the resolver (which serve calls
# for many users at once) run under the race detector, and
# so do the binaries their tests start (internal/testenv builds them so).
RACE_PKGS := ./injector/... ./rotation/... ./sidecar/... ./launch/...
OTHER_PKGS = $(shell $(GO) list ./... | grep -v -E '/(injector|rotation|sidecar|launch)(/|$$)')
# Every package compiles and vets for these too: desktop clients run there.
CROSS     := darwin/amd64 darwin/arm64 windows/amd64
# The release archives: static binaries, as `go install` builds them.
DIST      := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64

export MCP_SECRETS_VAULT_BIN := $(VAULT_BIN)
export MCP_SECRETS_CONSUL_TEMPLATE := $(CT_BIN)
export MCP_SECRETS_KUBE_APISERVER := $(KUBE_BIN)

.PHONY: build demo test unit cross fuzz bench dist lint vault kube npm clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/mcp-secrets
	$(GO) build -o bin/showenv ./examples/showenv

# The main job on the bundled local .env: check, then run a child.
demo: build
	PATH="$(CURDIR)/bin:$$PATH" sh examples/local/demo.sh

# Every test, against real servers the tests start, then the fuzz targets.
test: vault kube npm cross
	$(GO) vet ./...
	$(GO) test -race $(TESTFLAGS) $(RACE_PKGS)
	$(GO) test $(TESTFLAGS) $(OTHER_PKGS)
	$(MAKE) fuzz

# What `go install github.com/mcp-secrets/mcp-secrets/cmd/mcp-secrets@latest`
# needs (no replace directive: go install refuses a module with one; no
# cgo for any release target), and every package vetted for macOS and
# Windows, test files included.
cross:
	@if $(GO) mod edit -print | grep -q '^replace'; then echo 'go.mod has a replace directive: go install ...@latest refuses it'; exit 1; fi
	@for t in $(DIST); do echo "CGO_ENABLED=0 build $$t"; CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -o /dev/null ./cmd/mcp-secrets || exit 1; done
	@for t in $(CROSS); do echo "vet $$t"; GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet ./... || exit 1; done

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
	$(GO) test -run '^$$' -fuzz '^FuzzLines$$' -fuzztime $(FUZZTIME) ./injector
	$(GO) test -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZTIME) ./providers/keychain
	$(GO) test -run '^$$' -fuzz '^FuzzReview$$' -fuzztime $(FUZZTIME) ./webhook
	$(GO) test -run '^$$' -fuzz '^FuzzParseHeader$$' -fuzztime $(FUZZTIME) ./remote
	$(GO) test -run '^$$' -fuzz '^FuzzBearerParams$$' -fuzztime $(FUZZTIME) ./remote
	$(GO) test -run '^$$' -fuzz '^FuzzEventReader$$' -fuzztime $(FUZZTIME) ./remote
	$(GO) test -run '^$$' -fuzz '^FuzzHeaderValue$$' -fuzztime $(FUZZTIME) ./remote
	$(GO) test -run '^$$' -fuzz '^FuzzParseEventID$$' -fuzztime $(FUZZTIME) ./sidecar

# Go benchmarks (rotation latency per store and against consul-template,
# polling cost, providers, redaction, the MCP relay), then the table of whole
# processes (launch overhead, MCP latency and throughput, serve).
bench: vault kube npm $(CT_BIN) build
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...
	$(GO) run ./internal/bench -mcp-secrets $(BIN) -consul-template $(CT_BIN)

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

vault: $(VAULT_BIN)
$(VAULT_BIN): tools/vault/go.mod tools/vault/go.sum
	@echo "Building the Vault test server into $@: once per machine, 10 to 18 minutes on 2 cores (tools/vault)"
	mkdir -p $(dir $@)
	cd tools/vault && GOSUMDB=off GOFLAGS=-mod=mod $(GO) build -o $@ github.com/hashicorp/vault

kube: $(KUBE_BIN)
$(KUBE_BIN): tools/kube/go.mod tools/kube/go.sum
	@echo "Building kube-apiserver $(KUBE_VERSION) into $@: once per machine, about 7 minutes on 2 cores (tools/kube)"
	mkdir -p $(dir $@)
	cd tools/kube && GOSUMDB=off GOFLAGS=-mod=mod $(GO) build -o $@ \
		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$(KUBE_VERSION) -X k8s.io/component-base/version.gitMajor=$(word 1,$(subst ., ,$(KUBE_VERSION))) -X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION)))" \
		k8s.io/kubernetes/cmd/kube-apiserver

$(CT_BIN):
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) GOSUMDB=off $(GO) install github.com/hashicorp/consul-template@v0.41.1

npm: $(NPM_STAMP)
$(NPM_STAMP): tools/npm/package.json tools/npm/package-lock.json
	cd tools/npm && npm ci --no-audit --no-fund
	touch $@

# Release archives in dist/: per target a directory of the binary, README.md
# and LICENSE (when there is one), as .tar.gz (.zip for Windows), and
# SHA256SUMS; then the checksums and this machine's binary's version are
# checked. The archives are reproducible: entries sorted, owned by 0,
# dated with the last commit.
MTIME = $(shell git log -1 --format=@%ct 2>/dev/null || echo @0)
dist:
	rm -rf dist
	@set -e; for t in $(DIST); do \
		os=$${t%/*}; arch=$${t#*/}; name=mcp-secrets_$(VERSION)_$${os}_$${arch}; exe=mcp-secrets; \
		if [ $$os = windows ]; then exe=mcp-secrets.exe; fi; \
		echo "dist/$$name"; mkdir -p dist/$$name; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/$$name/$$exe ./cmd/mcp-secrets; \
		cp README.md $(wildcard LICENSE) dist/$$name/; \
		touch -d $(MTIME) dist/$$name dist/$$name/*; \
		if [ $$os = windows ]; then (cd dist && zip -qX $$name.zip $$name $$name/*); \
		else tar -C dist --sort=name --owner=0 --group=0 --numeric-owner -cf - $$name | gzip -n > dist/$$name.tar.gz; fi; \
		rm -r dist/$$name; \
	done
	cd dist && sha256sum mcp-secrets_* > SHA256SUMS && sha256sum -c --quiet SHA256SUMS
	@set -e; name=mcp-secrets_$(VERSION)_$$($(GO) env GOOS)_$$($(GO) env GOARCH); tmp=$$(mktemp -d); \
		tar -C $$tmp -xzf dist/$$name.tar.gz; got=$$($$tmp/$$name/mcp-secrets version); rm -r $$tmp; \
		if [ "$$got" != "mcp-secrets $(VERSION)" ]; then echo "dist/$$name.tar.gz: version prints '$$got', want 'mcp-secrets $(VERSION)'"; exit 1; fi; \
		echo "dist/$$name.tar.gz: $$got"

clean:
	rm -rf bin dist
