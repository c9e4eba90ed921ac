module github.com/connectedbbq/platform/deploy/keycloak/install-provider

go 1.26.0
