# The Go services and shared packages: tests against real JetStream and Postgres, lint, generated code.
GO_CORE := ./pkg/... ./services/idp-hook/... ./services/user-service/... ./dev/...
# The Keycloak end-to-end tests start their own Keycloak (test-keycloak-e2e); dev/images needs the images (test-images).
GO_TEST_PKGS = $(shell go list $(GO_CORE) | grep -v -e /dev/kce2e -e /dev/images -e /dev/cluster)
GO_TEST_FLAGS ?= -count=1 -timeout=20m

TEST_TARGETS += test-go test-keycloak-e2e
LINT_TARGETS += lint-go lint-proto

.PHONY: test-go lint-go lint-proto generate
test-go: ## unit and end-to-end tests of the pipeline (real NATS JetStream, real Postgres)
	go test $(GO_TEST_FLAGS) $(GO_TEST_PKGS)

lint-go: tools
	@unformatted=$$(gofmt -l $(GO_MODULES)); if [[ -n $$unformatted ]]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	for m in $(GO_MODULES); do (cd $$m && go vet ./... && golangci-lint run ./...) || exit 1; done

lint-proto: tools ## buf lint, and buf breaking against main so a published event never changes incompatibly
	buf lint
	if git rev-parse --verify -q main >/dev/null && git cat-file -e main:proto 2>/dev/null; then \
	  buf breaking --against '.git#branch=main'; else echo "buf breaking: no proto on main yet"; fi

generate: tools ## regenerate pkg/gen from proto/
	buf generate

.PHONY: test-keycloak-e2e
test-keycloak-e2e: ## sign-up through a real Keycloak to UserCreated, write-back, reconciliation, backfill, identity providers, convergence
	go test $(GO_TEST_FLAGS) ./dev/kce2e/

.PHONY: test-faults
test-faults: ## 2,000 sign-ups through crashes and partitions (300 in make test); Keycloak's listener through outages; 200 people converging (20 in make test)
	BBQ_FAULT_USERS=$${BBQ_FAULT_USERS:-2000} go test $(GO_TEST_FLAGS) -v -run TestNothingLostOrDuplicatedUnderFaults ./dev/faults/ | grep -v '^=== '
	go test $(GO_TEST_FLAGS) -v -run TestProviderRetriesCarrySignUpsThroughOutages ./dev/kce2e/ | grep -e '^---' -e outage_test -e '^ok'
	BBQ_CONVERGENCE_USERS=$${BBQ_CONVERGENCE_USERS:-200} go test $(GO_TEST_FLAGS) -v -run TestUsersConvergeToKeycloakWhateverTheWebhookOrder ./dev/kce2e/ | grep -v '^=== '

BENCH_TARGETS += bench-pipeline
.PHONY: bench-pipeline
bench-pipeline: ## the pipeline's throughput and latency beside raw JetStream and Postgres; writes docs/benchmarks.md
	go run ./dev/cmd/bbq-bench -out docs/benchmarks.md $(BENCH_ARGS)

# The soak lasts 10 minutes; make bench BENCH_ARGS="-soak 1m" gives a quicker look.
BENCH_ARGS ?= -soak 10m

# Fuzzers: each runs FUZZTIME, then its corpus (the inputs that found new coverage) is kept in
# testdata/fuzz so that `go test` replays it on every run.
FUZZTIME ?= 5m
FUZZ_TARGETS := pkg/webhook:FuzzVerify services/idp-hook/internal/kcevent:FuzzMap services/idp-hook/internal/receiver:FuzzReceiver
.PHONY: fuzz
fuzz: ## run every fuzzer for FUZZTIME (default 5m) and keep the corpora
	for t in $(FUZZ_TARGETS); do dir=$${t%%:*} name=$${t#*:}; \
	  (cd $$dir && go test -run=NONE -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $(FUZZFLAGS) .) || exit 1; \
	  pkg=$$(cd $$dir && go list .); mkdir -p $$dir/testdata/fuzz/$$name; \
	  cp -n $$(go env GOCACHE)/fuzz/$$pkg/$$name/* $$dir/testdata/fuzz/$$name/ 2>/dev/null || true; \
	  echo "$$name corpus: $$(ls $$dir/testdata/fuzz/$$name | wc -l) inputs"; done

# govulncheck reports the known vulnerabilities our code can reach. Where vuln.go.dev is not reachable, build a
# copy of the database (github.com/golang/vulndb: go run ./cmd/indexdb -vulns data/osv -out DIR) and pass
# GOVULNDB=file://DIR. It runs per module, in workspace mode.
GOVULNDB ?= https://vuln.go.dev
.PHONY: vulncheck
vulncheck: tools ## govulncheck on every Go module (GOVULNDB=file:///path for an offline database copy)
	for m in $(GO_MODULES); do echo "== $$m"; (cd $$m && govulncheck -db $(GOVULNDB) ./...) || exit 1; done
