# tenant-controller: Tenant CRD (generated into the chart) and its controller, tested with envtest.
TC_DIR := services/tenant-controller
CHART_DIR := deploy/helm/connected-bbq

.PHONY: tenant-controller-generate test-tenant-controller
tenant-controller-generate: ## regenerate DeepCopy, the Tenant CRD (into the chart) and RBAC from markers
	@CONTROLLER_GEN=1 scripts/setup-helm.sh >/dev/null
	cd $(TC_DIR) && controller-gen object paths=./api/... \
	  crd paths=./api/... output:crd:dir=../../$(CHART_DIR)/crds \
	  rbac:roleName=tenant-controller paths=./internal/... output:rbac:dir=config/rbac
	cp $(TC_DIR)/config/rbac/role.yaml $(CHART_DIR)/files/tenant-controller-role.yaml

test-tenant-controller: ## envtest: Tenant create/update/delete against a real kube-apiserver + etcd
	@assets=$$(scripts/setup-helm.sh | tail -n1); \
	cd $(TC_DIR) && KUBEBUILDER_ASSETS=$$assets go test -count=1 -timeout 15m ./...

TEST_TARGETS += test-tenant-controller
