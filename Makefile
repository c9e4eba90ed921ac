# The front door. Every target works on a fresh machine: it installs what it needs into $(BBQ_CACHE).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export BBQ_CACHE ?= $(HOME)/.cache/connected-bbq
export GOBIN := $(BBQ_CACHE)/bin
export PATH := $(GOBIN):$(PATH)
GO_MODULES := pkg testing test examples/welcome-mailer services/idp-hook services/user-service services/tenant-controller dashboard dev deploy/helm/test deploy/keycloak/install-provider

# Each component adds its own targets and appends to these lists in mk/<component>.mk.
TEST_TARGETS :=
BENCH_TARGETS :=
LINT_TARGETS :=
IMAGE_TARGETS :=
include $(sort $(wildcard mk/*.mk))

.PHONY: help run check test bench lint images chart tools setup-system
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

run: ## start the whole system on this machine
	@scripts/run.sh

check: lint test-unit ## the inner loop (< 3 min warm): lint, unit and package tests; no Keycloak, browser, cluster, images

test: setup-system lint $(TEST_TARGETS) ## lint, then every test, against real NATS, Postgres, Keycloak, kube-apiserver and Chromium

bench: $(BENCH_TARGETS) ## benchmarks; results in docs/benchmarks.md

lint: $(LINT_TARGETS) ## gofmt, go vet, golangci-lint, buf lint + breaking, go.mod check, helm lint

images: $(IMAGE_TARGETS) ## container images (needs a container builder)

setup-system: ## the Debian packages the tests need (Postgres, Chromium, podman...), when missing
	@scripts/setup-system.sh

tools: ## install the Go tools the targets use into $(BBQ_CACHE)/bin
	@scripts/tools.sh
