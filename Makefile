# kubectl-gitops. `make help` lists the targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export GOTOOLCHAIN := local
export GOFLAGS := -mod=mod

# A release tag when HEAD has one, else a semver pre-release naming the commit.
VERSION ?= $(shell git describe --tags --exact-match 2>/dev/null || echo v0.0.0-dev.g$$(git rev-parse --short HEAD 2>/dev/null || echo unknown))
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
GORELEASER_VERSION ?= v2.14.0
GORELEASER         := $(TOOLS_DIR)/goreleaser-$(GORELEASER_VERSION)
KREW_VERSION       ?= v0.4.3
KREW               := $(TOOLS_DIR)/krew-$(KREW_VERSION)
VALIDATE_KREW      := $(TOOLS_DIR)/validate-krew-manifest-$(KREW_VERSION)

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
	install -m 0755 krew/kubectl_complete-gitops $(PREFIX)/bin/kubectl_complete-gitops
	@echo "installed $(PREFIX)/bin/kubectl-gitops; try: kubectl gitops version"

.PHONY: testbin
testbin: $(TESTBIN_DIR)/ready ## Build the test control plane (kube-apiserver, etcd, ...) once into the cache.

$(TESTBIN_DIR)/ready:
	KUBERNETES_VERSION=$(KUBERNETES_VERSION) hack/testbin.sh $(TESTBIN_DIR)

.PHONY: test
test: testbin dist $(KREW) $(VALIDATE_KREW) ## Run every test, the real-cluster ones and the krew install included.
	go vet ./...
	KUBECTL_GITOPS_TESTBIN=$(TESTBIN_DIR) KUBECTL_GITOPS_DIST=$(CURDIR)/dist KREW=$(KREW) VALIDATE_KREW_MANIFEST=$(VALIDATE_KREW) \
		go test -count=1 -timeout 30m ./...

.PHONY: dist
dist: $(GORELEASER) ## Build the release archives for every platform and dist/krew/gitops.yaml for them.
	VERSION=$(VERSION) COMMIT=$(COMMIT) DATE=$(DATE) $(GORELEASER) release --snapshot --clean
	go run ./hack/krewmanifest --template krew/gitops.yaml --dist dist --tag $(VERSION) --out dist/krew/gitops.yaml
	@echo "dist/krew/gitops.yaml: kubectl krew install --manifest=dist/krew/gitops.yaml --archive=dist/kubectl-gitops_linux_amd64.tar.gz"

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint, check go.mod is tidy and that no binary is committed.
	$(GOLANGCI_LINT) run ./...
	go mod tidy -diff
	go test -count=1 -run 'TestNoCommittedBinaries|TestEveryToolIsPinned' ./test/tools/

# Tools, pinned, installed from the Go module proxy into the cache once.
$(GOLANGCI_LINT):
	hack/install-tool.sh $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
$(GORELEASER):
	hack/install-tool.sh $@ github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)
$(KREW):
	hack/install-tool.sh $@ sigs.k8s.io/krew/cmd/krew@$(KREW_VERSION)
$(VALIDATE_KREW):
	hack/install-tool.sh $@ sigs.k8s.io/krew/cmd/validate-krew-manifest@$(KREW_VERSION)

.PHONY: bench
bench: build testbin ## Time sync against kubectl apply on 1000 ConfigMaps; count registry requests of a 200x50 scan.
	KUBECTL_GITOPS_TESTBIN=$(TESTBIN_DIR) go run ./test/bench --plugin $(BIN) --objects 1000
	go test ./pkg/registry/ -run '^$$' -bench Scan200x50 -benchtime 1x

.PHONY: demo
demo: build testbin ## Sync a sample repository into a throwaway local cluster.
	KUBECTL_GITOPS_TESTBIN=$(TESTBIN_DIR) hack/demo.sh $(BIN)

.PHONY: clean
clean: ## Remove build output (the test control plane cache stays; remove $(CACHE_DIR) for that).
	rm -rf bin dist
