# The Helm chart: lint, render checks, install into a real kube-apiserver + etcd, package; and the images.
CHART := deploy/helm/connected-bbq
HELM_TEST_DIR := deploy/helm/test
CHART_VALUE_SETS := $(wildcard $(HELM_TEST_DIR)/testdata/values-*.yaml)
IMAGE_REGISTRY ?= ghcr.io/connectedbbq
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' $(CHART)/Chart.yaml)

.PHONY: helm-lint test-helm chart images-build
helm-lint: ## helm lint --strict and kube-score on every value set
	@scripts/setup-helm.sh >/dev/null
	helm lint --strict $(CHART)
	@for v in $(CHART_VALUE_SETS); do echo "helm lint --strict -f $$v"; helm lint --strict --quiet $(CHART) -f $$v; done
	@for v in "" $(CHART_VALUE_SETS); do \
	  echo "kube-score $${v:-default values}"; \
	  helm template bbq $(CHART) $${v:+-f $$v} | kube-score score --output-format ci - \
	    --ignore-test container-image-pull-policy \
	    | grep -E '^\[(CRITICAL|WARNING)\]' | sort | uniq -c | sort -rn || true; \
	done

test-helm: ## helm lint --strict, kube-score (0 critical), and installs into a real kube-apiserver + etcd
	@assets=$$(scripts/setup-helm.sh | tail -n1); \
	cd $(HELM_TEST_DIR) && KUBEBUILDER_ASSETS=$$assets HELM=$$(command -v helm) go test -count=1 -timeout 20m ./...

chart: ## package the chart into out/
	@scripts/setup-helm.sh >/dev/null
	@mkdir -p out
	helm package $(CHART) -d out

images-build: ## build every image with docker or podman (tags = the chart's appVersion)
	@builder=""; \
	for b in docker podman; do \
	  if command -v $$b >/dev/null && $$b info >/dev/null 2>&1; then builder=$$b; break; fi; \
	done; \
	if [[ -z $$builder ]]; then \
	  echo "make images: no working container builder (docker or podman with a running engine) on this machine." >&2; \
	  echo "Build on a machine with one, or in CI; see docs/kubernetes.md." >&2; exit 1; \
	fi; \
	set -x; \
	$$builder build -f build/Dockerfile.go --build-arg MODULE=services/idp-hook --build-arg VERSION=$(IMAGE_TAG) -t $(IMAGE_REGISTRY)/idp-hook:$(IMAGE_TAG) .; \
	$$builder build -f build/Dockerfile.go --build-arg MODULE=services/user-service --build-arg VERSION=$(IMAGE_TAG) -t $(IMAGE_REGISTRY)/user-service:$(IMAGE_TAG) .; \
	$$builder build -f build/Dockerfile.go --build-arg MODULE=services/tenant-controller --build-arg PKG=./cmd --build-arg VERSION=$(IMAGE_TAG) -t $(IMAGE_REGISTRY)/tenant-controller:$(IMAGE_TAG) .; \
	$$builder build -f build/Dockerfile.dashboard --build-arg VERSION=$(IMAGE_TAG) -t $(IMAGE_REGISTRY)/dashboard:$(IMAGE_TAG) .; \
	$$builder build -f build/Dockerfile.keycloak-provider -t $(IMAGE_REGISTRY)/keycloak-provider:$(IMAGE_TAG) .
IMAGE_TARGETS += images-build
LINT_TARGETS += helm-lint
TEST_TARGETS += test-helm
