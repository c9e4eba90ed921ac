# Keycloak: the bbq realm, the bbq-webhook event-listener provider (Java 17, Maven) and the Go admin client
# and test harness (pkg/keycloak; testing/kctest, testing/smtpsink). Downloads and builds live under $(BBQ_CACHE).
KEYCLOAK_SH := deploy/keycloak/scripts/keycloak.sh
KEYCLOAK_GO_PKGS := ./pkg/keycloak/ ./testing/kctest/... ./testing/smtpsink/

.PHONY: setup-keycloak test-keycloak test-keycloak-java test-keycloak-go keycloak-run

setup-keycloak: ## fetch Keycloak, build the provider (with its tests), augment Keycloak once
	$(KEYCLOAK_SH) setup >/dev/null

# mvn package runs the JUnit tests (signer vectors shared with Go, retry policy, config, sender against a
# real HTTP server) and leaves deploy/keycloak/provider/target/bbq-keycloak-provider.jar (reproducible bytes).
test-keycloak-java: ## provider unit tests (Maven)
	$(KEYCLOAK_SH) build-provider >/dev/null

# One Keycloak for both test binaries (with-keycloak sets KCTEST_URL); each test gets its own realm.
test-keycloak-go: ## pkg/keycloak, testing/kctest, testing/smtpsink against a real Keycloak
	go run ./testing/kctest/cmd/with-keycloak -- go test -count=1 -timeout 15m $(KEYCLOAK_GO_PKGS)

test-keycloak: test-keycloak-java test-keycloak-go ## everything Keycloak-side

# Keycloak alone with the bbq realm on :8080 (admin/admin unless KC_BOOTSTRAP_ADMIN_* are set).
keycloak-run: ## run Keycloak locally with the bbq realm and the provider
	$(KEYCLOAK_SH) start

# The Go tests also run in test-go (./pkg/..., ./testing/...); only the Java tests are added here.
TEST_TARGETS += test-keycloak-java
