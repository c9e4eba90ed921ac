# The Go services and shared packages: tests against real JetStream and Postgres, lint, generated code.
GO_CORE := ./pkg/... ./testing/... ./services/idp-hook/... ./services/user-service/... ./dev/... ./test/... ./examples/welcome-mailer/...
# The Keycloak end-to-end tests start their own Keycloak (test-keycloak-e2e); test/images needs the images (test-images).
GO_TEST_PKGS = $(shell go list $(GO_CORE) | grep -v -e /test/keycloak -e /test/images -e /test/cluster)
GO_TEST_FLAGS ?= -count=1 -timeout=20m
# make check's tests: unit and package tests (real JetStream and Postgres in process), without the process-level
# suites (test/) and without what starts a Keycloak (pkg/keycloak, testing/kctest, the sweep, the write-back,
# idp-hook's reconciler and its backfill test in the idp-hook package itself).
GO_UNIT_PKGS = $(shell go list ./pkg/... ./testing/... ./services/idp-hook/... ./services/user-service/... ./dev/... ./examples/welcome-mailer/... \
  | grep -v -e /pkg/keycloak -e /testing/kctest -e /user-service/internal/sweep -e /user-service/internal/writeback \
    -e /idp-hook/internal/reconcile -e '/services/idp-hook$$')

TEST_TARGETS += test-go test-keycloak-e2e
LINT_TARGETS += lint-go lint-proto lint-modules

.PHONY: test-go test-unit lint-go lint-proto lint-modules generate
test-unit: ## unit and package tests only (part of make check; make test-go runs them with the suites)
	go test -count=1 -timeout=10m $(GO_UNIT_PKGS)

test-go: ## unit and end-to-end tests of the pipeline (real NATS JetStream, real Postgres)
	go test $(GO_TEST_FLAGS) $(GO_TEST_PKGS)

lint-go: tools
	@unformatted=$$(gofmt -l $(GO_MODULES)); if [[ -n $$unformatted ]]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	for m in $(GO_MODULES); do (cd $$m && go vet ./... && golangci-lint run ./...) || exit 1; done

# The images are built module by module (GOWORK=off, scripts/images.sh): their go.mod files must be tidy and
# select the versions the workspace tests.
lint-modules: ## every go.mod tidy; each shipped binary links the same versions alone as in the workspace
	scripts/check-modules.sh

# A shipped module's go.mod lists only what it ships; its tests' modules (the harnesses' nats-server, go-smtp,
# kin-openapi) come from the workspace. Plain `go mod tidy` there would add them back: use this.
.PHONY: tidy
tidy: ## tidy every go.mod (the shipped ones without their tests' modules)
	scripts/tidy-modules.sh

lint-proto: tools ## buf lint, and buf breaking against the contract before this change (scripts/buf-breaking.sh)
	buf lint
	scripts/buf-breaking.sh

generate: tools ## regenerate pkg/gen, proto/jsonschema and proto/asyncapi.yaml from proto/ and pkg/events
	buf generate
	go run ./pkg/events/internal/genasyncapi

.PHONY: test-keycloak-e2e
test-keycloak-e2e: ## sign-up through a real Keycloak to UserCreated, write-back, reconciliation, backfill, identity providers, convergence
	go test $(GO_TEST_FLAGS) ./test/keycloak/

.PHONY: test-faults
test-faults: ## 2,000 sign-ups through crashes and partitions, single and HA (300 in make test); Keycloak's listener through outages; 200 people converging (20 in make test)
	BBQ_FAULT_USERS=$${BBQ_FAULT_USERS:-2000} go test $(GO_TEST_FLAGS) -v -run 'TestNothingLostOrDuplicatedUnderFaults|TestHighAvailabilityUnderFaults' ./test/faults/ | grep -v '^=== '
	go test $(GO_TEST_FLAGS) -v -run TestProviderRetriesCarrySignUpsThroughOutages ./test/keycloak/ | grep -e '^---' -e outage_test -e '^ok'
	BBQ_CONVERGENCE_USERS=$${BBQ_CONVERGENCE_USERS:-200} go test $(GO_TEST_FLAGS) -v -run TestUsersConvergeToKeycloakWhateverTheWebhookOrder ./test/keycloak/ | grep -v '^=== '

BENCH_TARGETS += bench-pipeline
.PHONY: bench-pipeline
bench-pipeline: bench-browser-deps ## the pipeline's throughput and latency beside raw JetStream and Postgres; writes docs/benchmarks.md
	go run ./test/bench -out docs/benchmarks.md $(BENCH_ARGS)

# The bench's "feel" stage serves the built SPA from the dashboard and drives it in Debian's Chromium
# (playwright-core from dashboard/web); it starts the local system on free ports, never make run's.
.PHONY: bench-browser-deps
bench-browser-deps:
	scripts/setup-dashboard.sh --e2e

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
