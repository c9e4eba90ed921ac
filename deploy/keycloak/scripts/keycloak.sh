#!/usr/bin/env bash
# Fetch, build the provider for, and start a local Keycloak (the Quarkus distribution from Maven Central).
# Subcommands: fetch | build-provider | start | home | version
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KC_DIR=$(cd "$HERE/.." && pwd)
: "${BBQ_CACHE:=$HOME/.cache/connected-bbq}"
: "${KEYCLOAK_VERSION:=26.7.3}"
MAVEN_CENTRAL=${MAVEN_CENTRAL:-https://repo1.maven.org/maven2}
DIST_ROOT="$BBQ_CACHE/keycloak/$KEYCLOAK_VERSION"
DIST="$DIST_ROOT/keycloak-$KEYCLOAK_VERSION"
PROVIDER_JAR="$KC_DIR/provider/target/bbq-keycloak-provider.jar"

log() { printf 'keycloak.sh: %s\n' "$*" >&2; }

# fetch downloads and unpacks the pinned distribution once; later calls are no-ops.
fetch() {
  if [[ -x "$DIST/bin/kc.sh" ]]; then
    echo "$DIST"
    return
  fi
  mkdir -p "$DIST_ROOT"
  local name="keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz"
  local url="$MAVEN_CENTRAL/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION/$name"
  local tmp="$DIST_ROOT/$name.part"
  log "downloading $url"
  curl -fsSL --retry 3 -o "$tmp" "$url"
  # Maven Central publishes a .sha1 beside every artifact; check it so a truncated download is not cached.
  local want got
  want=$(curl -fsSL --retry 3 "$url.sha1" | cut -c1-40)
  got=$(sha1sum "$tmp" | cut -c1-40)
  if [[ "$want" != "$got" ]]; then
    rm -f "$tmp"
    log "checksum mismatch for $name (want $want, got $got)"
    exit 1
  fi
  local stage="$DIST_ROOT/.unpack.$$"
  rm -rf "$stage" && mkdir -p "$stage"
  tar -xzf "$tmp" -C "$stage"
  rm -f "$tmp"
  mv "$stage/keycloak-$KEYCLOAK_VERSION" "$DIST"
  rm -rf "$stage"
  log "unpacked into $DIST"
  echo "$DIST"
}

# java_home picks the newest JDK on the machine: Temurin 25 where present, else 21, else 17.
java_home() {
  local c
  for c in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64 /usr/lib/jvm/java-21-openjdk-amd64 \
    /usr/lib/jvm/java-17-openjdk-amd64; do
    if [[ -x "$c/bin/java" ]]; then
      echo "$c"
      return
    fi
  done
  dirname "$(dirname "$(readlink -f "$(command -v java)")")"
}

build_provider() {
  local m2=${MAVEN_OPTS_REPO:-}
  (cd "$KC_DIR/provider" && mvn -B -q -Dkeycloak.version="$KEYCLOAK_VERSION" ${m2:+-Dmaven.repo.local=$m2} \
    ${BBQ_PROVIDER_SKIP_TESTS:+-DskipTests} package)
  echo "$PROVIDER_JAR"
}

# start runs one instance. Each instance gets its own home under $KC_INSTANCE_DIR (a copy of bin/ and conf/,
# symlinks to the read-only jars), so several can run at once from one cached distribution without sharing
# the build output, the providers or the dev database.
start() {
  fetch >/dev/null
  local http_port=${KC_HTTP_PORT:-8080}
  local mgmt_port=${KC_HTTP_MANAGEMENT_PORT:-9000}
  local inst=${KC_INSTANCE_DIR:-$BBQ_CACHE/keycloak/instances/$http_port}
  make_instance "$inst"
  if [[ -f "$PROVIDER_JAR" ]]; then
    cp "$PROVIDER_JAR" "$inst/providers/"
  else
    log "warning: $PROVIDER_JAR not built (run: $0 build-provider); starting without the bbq-webhook listener"
  fi
  local realm_dir=${KC_REALM_DIR:-$KC_DIR/realm}
  rm -rf "$inst/data/import" && mkdir -p "$inst/data/import"
  if [[ "${KC_IMPORT_REALM:-true}" == "true" ]]; then
    cp "$realm_dir"/*.json "$inst/data/import/"
  fi
  export JAVA_HOME=${JAVA_HOME_OVERRIDE:-$(java_home)}
  export KC_BOOTSTRAP_ADMIN_USERNAME=${KC_BOOTSTRAP_ADMIN_USERNAME:-admin}
  export KC_BOOTSTRAP_ADMIN_PASSWORD=${KC_BOOTSTRAP_ADMIN_PASSWORD:-admin}
  # Defaults for the realm's ${ENV} placeholders, so the import works with no further configuration.
  export BBQ_DASHBOARD_URL=${BBQ_DASHBOARD_URL:-http://localhost:3000}
  export BBQ_USER_SERVICE_SECRET=${BBQ_USER_SERVICE_SECRET:-user-service-dev-secret}
  export BBQ_IDP_HOOK_SECRET=${BBQ_IDP_HOOK_SECRET:-idp-hook-dev-secret}
  export BBQ_TENANT_CONTROLLER_SECRET=${BBQ_TENANT_CONTROLLER_SECRET:-tenant-controller-dev-secret}
  export BBQ_SMTP_HOST=${BBQ_SMTP_HOST:-127.0.0.1}
  export BBQ_SMTP_PORT=${BBQ_SMTP_PORT:-2525}
  export BBQ_SMTP_FROM=${BBQ_SMTP_FROM:-no-reply@connectedbbq.local}
  local url="http://${KC_HOSTNAME_HOST:-localhost}:$http_port/auth"
  log "java: $JAVA_HOME; home: $inst"
  log "listening on $url (admin console $url/admin, realm bbq: $url/realms/bbq), management on :$mgmt_port"
  local db=${KC_DB:-dev-file}
  exec "$inst/bin/kc.sh" start-dev \
    --db="$db" \
    --import-realm \
    --http-port="$http_port" \
    --http-relative-path=/auth \
    --http-management-port="$mgmt_port" \
    --health-enabled=true \
    --metrics-enabled=true \
    "$@"
}

make_instance() {
  local inst=$1
  mkdir -p "$inst/providers" "$inst/data" "$inst/lib"
  if [[ ! -d "$inst/bin" ]]; then
    cp -r "$DIST/bin" "$inst/bin"
    cp -r "$DIST/conf" "$inst/conf"
    cp -r "$DIST/themes" "$inst/themes" 2>/dev/null || true
    cp "$DIST/version.txt" "$inst/" 2>/dev/null || true
    local f
    for f in "$DIST"/lib/*; do
      case "$(basename "$f")" in
        quarkus) cp -r "$f" "$inst/lib/quarkus" ;; # rewritten by the dev build: one per instance
        *) ln -sfn "$f" "$inst/lib/$(basename "$f")" ;;
      esac
    done
  fi
}

case "${1:-}" in
  fetch) fetch ;;
  build-provider) build_provider ;;
  start) shift; start "$@" ;;
  home) echo "$DIST" ;;
  version) echo "$KEYCLOAK_VERSION" ;;
  java-home) java_home ;;
  *)
    echo "usage: $0 fetch|build-provider|start [kc.sh options]|home|version|java-home" >&2
    exit 2
    ;;
esac
