# The Helm chart: lint, render checks, install into a real kube-apiserver + etcd, package; and the images.
CHART := deploy/helm/connected-bbq
HELM_TEST_DIR := deploy/helm/test
CHART_VALUE_SETS := $(wildcard $(HELM_TEST_DIR)/testdata/values-*.yaml)
IMAGE_REGISTRY ?= ghcr.io/connectedbbq
IMAGE_TAG ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' $(CHART)/Chart.yaml)

HELM_DOCS = helm-docs --chart-search-root $(CHART) --sort-values-order file --skip-version-footer --log-level warning

.PHONY: helm-lint test-helm chart chart-docs lint-chart-docs images-build test-images
chart-docs: ## regenerate the chart's README.md from values.yaml (helm-docs; README.md.gotmpl is the frame)
	@scripts/tools.sh helm-docs
	$(HELM_DOCS)

lint-chart-docs: ## the chart's README.md is what helm-docs generates from values.yaml (else: make chart-docs)
	@scripts/tools.sh helm-docs
	@$(HELM_DOCS) --dry-run | diff -u $(CHART)/README.md - \
	  || { echo "$(CHART)/README.md is out of date with values.yaml: run make chart-docs" >&2; exit 1; }

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

.PHONY: test-cluster
test-cluster: ## the chart's pods on a real single-node Kubernetes (kubelet, containerd, CoreDNS): all ready, then helm test
	@scripts/setup-helm.sh >/dev/null
	@kc=$$(scripts/cluster.sh up | tail -n1); trap 'scripts/cluster.sh down' EXIT; \
	BBQ_KUBECONFIG=$$kc PATH=$$(scripts/k8s-test-binaries.sh cluster | tail -n1):$$PATH \
	  go test -count=1 -timeout 40m -v -run TestChartRunsOnARealCluster ./test/cluster/ | grep -v '^=== '

chart: ## package the chart into out/
	@scripts/setup-helm.sh >/dev/null
	@mkdir -p out
	helm package $(CHART) -d out

images-build: ## build our five images with podman or docker (static binaries on an empty base; tags = appVersion)
	IMAGE_REGISTRY=$(IMAGE_REGISTRY) IMAGE_TAG=$(IMAGE_TAG) scripts/images.sh

# The images run as the chart runs them (non-root, read-only root, no capabilities) against a real JetStream and
# Postgres, with podman (installed by .ci/run; no daemon needed).
test-images: images-build ## run the images: the pipeline serves, the dashboard serves, the provider installs its jar
	IMAGE_REGISTRY=$(IMAGE_REGISTRY) IMAGE_TAG=$(IMAGE_TAG) go test -count=1 -timeout 10m ./test/images/

TEST_TARGETS += test-images
IMAGE_TARGETS += images-build
LINT_TARGETS += helm-lint
LINT_TARGETS += lint-chart-docs
TEST_TARGETS += test-helm
TEST_TARGETS += test-cluster
