# The dashboard: React SPA (dashboard/web) embedded into the Go server (dashboard/).
DASHBOARD_WEB := dashboard/web
DASHBOARD_DIST := dashboard/internal/ui/static/app
export npm_config_cache ?= $(BBQ_CACHE)/npm
export npm_config_update_notifier := false
export npm_config_fund := false
export npm_config_audit := false

.PHONY: web web-deps dashboard-bin test-dashboard test-dashboard-web test-dashboard-go test-dashboard-e2e bench-dashboard

# npm ci only when package-lock.json changed since the last install.
$(DASHBOARD_WEB)/node_modules/.package-lock.json: $(DASHBOARD_WEB)/package-lock.json
	cd $(DASHBOARD_WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web-deps: $(DASHBOARD_WEB)/node_modules/.package-lock.json

web: web-deps ## build the dashboard SPA into the Go server's embed folder
	cd $(DASHBOARD_WEB) && npm run --silent build

dashboard-bin: web ## build bin/dashboard with the SPA embedded
	go build -o bin/dashboard ./dashboard

test-dashboard-web: web-deps
	cd $(DASHBOARD_WEB) && npm run --silent typecheck && npx vitest run

# The server tests start a real Keycloak from the cached distribution (deploy/keycloak/scripts/keycloak.sh).
test-dashboard-go:
	deploy/keycloak/scripts/keycloak.sh fetch >/dev/null
	cd dashboard && go vet ./... && go test -count=1 -timeout 15m ./...

test-dashboard: test-dashboard-web test-dashboard-go ## vitest component tests + Go server tests against a real Keycloak

# The browser journey against the whole local stack (scripts/run.sh --data <tmp>), in Debian's Chromium
# (scripts/setup-dashboard.sh --e2e installs it). Screenshots and axe.json land in dashboard/web/e2e-out/<time>/.
test-dashboard-e2e: web ## Playwright journey: sign up, verify, profile, tenant, log out
	scripts/setup-dashboard.sh --e2e
	cd $(DASHBOARD_WEB) && node e2e/journey.mjs

bench-dashboard: web ## print the production bundle size
	@cd $(DASHBOARD_DIST) && total=0; gz=0; \
	for f in index.html assets/*; do \
	  s=$$(stat -c %s "$$f"); g=$$(gzip -9c "$$f" | wc -c); total=$$((total+s)); gz=$$((gz+g)); \
	  printf 'dashboard bundle: %-36s %8d B  gzip %7d B\n' "$$f" "$$s" "$$g"; \
	done; printf 'dashboard bundle: %-36s %8d B  gzip %7d B\n' TOTAL "$$total" "$$gz"

BENCH_TARGETS += bench-dashboard

# test-dashboard-e2e starts the whole local stack on make run's fixed ports (3000, 8180, 8080, ...): it must not
# run beside another `make run`.
TEST_TARGETS += test-dashboard test-dashboard-e2e

# The API types are generated from user-service's OpenAPI document (npm run gen:api): regenerated here, they must
# equal the committed ones. ESLint (eslint.config.js) and Prettier check the sources.
LINT_TARGETS += lint-dashboard
.PHONY: lint-dashboard
lint-dashboard: web-deps ## ESLint, Prettier, and src/api.gen.ts up to date with openapi.yaml
	cd $(DASHBOARD_WEB) && npm run --silent lint
	cd $(DASHBOARD_WEB) && npm run --silent gen:api >/dev/null 2>&1 && git diff --exit-code -- src/api.gen.ts

.PHONY: audit-dashboard
audit-dashboard: ## npm audit of what ships in the bundle (production dependencies)
	cd $(DASHBOARD_WEB) && npm audit --omit=dev
