# kubectl-gitops. `make help` lists the targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export GOTOOLCHAIN := local
export GOFLAGS := -mod=mod

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w \
	-X github.com/kubectl-gitops/kubectl-gitops/pkg/version.version=$(VERSION) \
	-X github.com/kubectl-gitops/kubectl-gitops/pkg/version.commit=$(COMMIT) \
	-X github.com/kubectl-gitops/kubectl-gitops/pkg/version.date=$(DATE)

# Slow things are built once into the Makefile's own cache folder.
CACHE_DIR          ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kubectl-gitops
KUBERNETES_VERSION ?= v1.37.2
TESTBIN_DIR        ?= $(CACHE_DIR)/testbin/$(KUBERNETES_VERSION)
TOOLS_DIR          ?= $(CACHE_DIR)/tools
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT      := $(TOOLS_DIR)/golangci-lint-$(GOLANGCI_LINT_VERSION)

BIN := bin/kubectl-gitops
PREFIX ?= $(HOME)/.local

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/kubectl-gitops.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/kubectl-gitops

.PHONY: install
install: build ## Install kubectl-gitops into $(PREFIX)/bin (on PATH, kubectl finds it).
	install -d $(PREFIX)/bin
	install -m 0755 $(BIN) $(PREFIX)/bin/kubectl-gitops
	@echo "installed $(PREFIX)/bin/kubectl-gitops; try: kubectl gitops version"

.PHONY: testbin
testbin: $(TESTBIN_DIR)/ready ## Build the test control plane (kube-apiserver, etcd, ...) once into the cache.

$(TESTBIN_DIR)/ready:
	KUBERNETES_VERSION=$(KUBERNETES_VERSION) hack/testbin.sh $(TESTBIN_DIR)

.PHONY: test
test: testbin ## Run every test, the real-cluster ones included.
	go vet ./...
	KUBECTL_GITOPS_TESTBIN=$(TESTBIN_DIR) go test -count=1 -timeout 30m ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint and check go.mod is tidy.
	$(GOLANGCI_LINT) run ./...
	go mod tidy -diff

$(GOLANGCI_LINT):
	mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(TOOLS_DIR)/golangci-lint $@

.PHONY: bench
bench: build testbin ## Time sync against kubectl apply on 1000 ConfigMaps, in one run.
	KUBECTL_GITOPS_TESTBIN=$(TESTBIN_DIR) go run ./test/bench --plugin $(BIN) --objects 1000

.PHONY: demo
demo: build testbin ## Sync a sample repository into a throwaway local cluster.
	KUBECTL_GITOPS_TESTBIN=$(TESTBIN_DIR) hack/demo.sh $(BIN)

.PHONY: clean
clean: ## Remove build output (the test control plane cache stays; remove $(CACHE_DIR) for that).
	rm -rf bin dist
