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
# Module files first, so the download layer is cached until a go.mod/go.sum changes.
COPY go.work go.work.sum ./
COPY pkg/go.mod pkg/go.sum pkg/
COPY services/idp-hook/go.mod services/idp-hook/go.sum services/idp-hook/
COPY services/user-service/go.mod services/user-service/go.sum* services/user-service/
COPY services/tenant-controller/go.mod services/tenant-controller/go.sum services/tenant-controller/
COPY dashboard/go.mod dashboard/go.sum dashboard/
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download -x >/dev/null 2>&1 || true
COPY . .
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    test -n "$MODULE" || { echo "set --build-arg MODULE=<module dir>" >&2; exit 1; }; \
    cd "$MODULE" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/app "$PKG"

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
