module github.com/connectedbbq/platform/services/idp-hook

go 1.25.0
