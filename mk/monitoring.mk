# The chart's alert rules (deploy/helm/connected-bbq/files/monitoring), checked and unit-tested by promtool.
RULES_DIR := deploy/helm/connected-bbq/files/monitoring
LINT_TARGETS += lint-alerts
TEST_TARGETS += test-alerts

.PHONY: lint-alerts test-alerts
lint-alerts: ## promtool check rules on the chart's alert rules
	@scripts/tools.sh promtool
	promtool check rules $(RULES_DIR)/alerts.yaml

test-alerts: ## promtool test rules: each alert fires on its input series, and only then
	@scripts/tools.sh promtool
	cd $(RULES_DIR) && promtool test rules alerts_test.yaml
