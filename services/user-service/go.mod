module github.com/connectedbbq/platform/services/user-service

go 1.25.0
