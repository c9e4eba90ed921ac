# syntax=docker/dockerfile:1.7
# One static Go service of the workspace, on distroless as the nonroot user. Build from the repository root:
#   docker build -f build/Dockerfile.go --build-arg MODULE=services/idp-hook -t ghcr.io/connectedbbq/idp-hook:<v> .
# MODULE is the module directory, PKG the main package inside it (e.g. ./cmd for the tenant controller).
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
ARG MODULE
ARG PKG=.
ARG VERSION=dev
WORKDIR /src
# The whole workspace: the services require the shared pkg module through go.work. The module and build
# caches are BuildKit cache mounts, so a rebuild downloads and compiles only what changed.
COPY . .
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    test -n "$MODULE" || { echo "set --build-arg MODULE=<module dir>" >&2; exit 1; }; \
    cd "$MODULE" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/app "$PKG"

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
