# The bus contract for consumers outside Go: proto/asyncapi.yaml (AsyncAPI 3) and the payloads' JSON Schemas in
# proto/jsonschema, both generated (make generate) and checked here for drift, then validated by the AsyncAPI
# parser from npm (pinned in proto/asyncapi-check/package-lock.json, installed beside it, gitignored).
ASYNCAPI_CHECK := proto/asyncapi-check
LINT_TARGETS += lint-asyncapi

$(ASYNCAPI_CHECK)/node_modules/.package-lock.json: $(ASYNCAPI_CHECK)/package-lock.json
	cd $(ASYNCAPI_CHECK) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: lint-asyncapi
lint-asyncapi: tools $(ASYNCAPI_CHECK)/node_modules/.package-lock.json ## proto/asyncapi.yaml and proto/jsonschema up to date, and a valid AsyncAPI document
	buf generate
	go run ./pkg/events/internal/genasyncapi
	@drift=$$(git status --porcelain -- pkg/gen proto/jsonschema proto/asyncapi.yaml); \
	  if [[ -n $$drift ]]; then echo "run make generate:"; echo "$$drift"; exit 1; fi
	cd $(ASYNCAPI_CHECK) && node check.mjs ../asyncapi.yaml
