# Pinned versions live in scripts/versions.sh; the files that must repeat one (pom.xml, the chart) are checked.
LINT_TARGETS += lint-versions

.PHONY: lint-versions
lint-versions: ## the pins repeated outside scripts/versions.sh agree with it
	@scripts/check-versions.sh
