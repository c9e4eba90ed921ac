# shellcheck shell=bash
# Every pinned tool and test dependency, in one place: the scripts source this file (an environment variable of
# the same name overrides a pin). Go tools are installed by scripts/tools.sh; npm packages are pinned in
# dashboard/web/package-lock.json, Go modules in the go.mod files, Maven plugins in deploy/keycloak/provider/pom.xml.

# Go tools, `go install`ed into $BBQ_CACHE/bin by scripts/tools.sh (GO_TOOL_<NAME> for the binary <name>).
: "${GO_TOOL_BUF:=github.com/bufbuild/buf/cmd/buf@v1.50.0}"
: "${GO_TOOL_PROTOC_GEN_GO:=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.6}"
# The payloads' JSON Schemas (buf.gen.yaml, proto/jsonschema).
: "${GO_TOOL_PROTOC_GEN_JSONSCHEMA:=github.com/bufbuild/protoschema-plugins/cmd/protoc-gen-jsonschema@v0.6.0}"
: "${GO_TOOL_GOLANGCI_LINT:=github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.5.0}"
: "${GO_TOOL_BENCHSTAT:=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da}"
: "${GO_TOOL_GOVULNCHECK:=golang.org/x/vuln/cmd/govulncheck@v1.9.0}"
: "${GO_TOOL_HELM:=helm.sh/helm/v4/cmd/helm@v4.3.1}"
: "${GO_TOOL_KUBE_SCORE:=github.com/zegl/kube-score/cmd/kube-score@v1.20.0}"
: "${GO_TOOL_HELM_DOCS:=github.com/norwoodj/helm-docs/cmd/helm-docs@v1.14.2}"
: "${GO_TOOL_CONTROLLER_GEN:=sigs.k8s.io/controller-tools/cmd/controller-gen@v0.21.0}"
# Prometheus v3.16.0 (its Go module is numbered v0.316.0): promtool checks and unit-tests the chart's alert rules.
: "${GO_TOOL_PROMTOOL:=github.com/prometheus/prometheus/cmd/promtool@v0.316.0}"

# Keycloak: the distribution the tests and `make run` start, the provider's API (pom.xml's default) and the chart's
# image tag (deploy/helm/connected-bbq/values.yaml) are this version; scripts/check-versions.sh compares them.
: "${KEYCLOAK_VERSION:=26.7.3}"

# The real kube-apiserver, etcd and node binaries built from Go modules (scripts/k8s-test-binaries.sh).
: "${K8S_VERSION:=1.36.3}"
: "${ETCD_VERSION:=3.6.5}"

# The attack suite's API fuzzer from PyPI (scripts/setup-schemathesis.sh). hypothesis is pinned because newer
# releases break hypothesis-jsonschema 0.23 (AttributeError: 'many' object has no attribute 'more').
: "${SCHEMATHESIS_VERSION:=4.1.4}"
: "${HYPOTHESIS_VERSION:=6.136.0}"

# Stand-in images built from Go modules (scripts/standin-images.sh).
: "${MAILPIT_VERSION:=v1.27.11}"
: "${COREDNS_VERSION:=v1.14.7}"
