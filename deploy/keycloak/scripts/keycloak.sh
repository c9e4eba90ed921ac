#!/usr/bin/env bash
# Fetch, build and start a local Keycloak (the Quarkus distribution from Maven Central) with the bbq realm and
# the bbq-webhook provider. Everything downloaded or built lives under $BBQ_CACHE, never in the checkout.
#
#   keycloak.sh fetch           download + unpack the pinned distribution once (checksum-verified)
#   keycloak.sh build-provider  mvn package the provider -> provider/target/bbq-keycloak-provider.jar
#   keycloak.sh build           `kc.sh build` once per (provider jar, build options): a "built home" in the cache
#   keycloak.sh setup           fetch + build-provider + build (what CI runs; idempotent, fast when cached)
#   keycloak.sh start [opts]    exec `kc.sh start --optimized` in a per-instance home (own data dir)
#   keycloak.sh home|built-home|version|java-home
#
# start reads: KC_PORT (8080), KC_MANAGEMENT_PORT (9000), KC_HOSTNAME (public URL incl. /auth, e.g.
# http://localhost:3000/auth; unset = derived from each request), KC_INSTANCE_DIR (data dir, default
# $BBQ_CACHE/keycloak/instances/$KC_PORT), KC_IMPORT_REALM (true), KC_BOOTSTRAP_ADMIN_USERNAME/PASSWORD,
# BBQ_SMTP_HOST/PORT/FROM, BBQ_DASHBOARD_URL, BBQ_*_SECRET (realm placeholders), BBQ_WEBHOOK_URL/SECRETS,
# KC_WATCH_PID (stop Keycloak when this process is gone; tests set it), KC_TRACING_ENABLED (build and start
# with Keycloak's OpenTelemetry tracing) with KC_TRACING_ENDPOINT/PROTOCOL.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KC_DIR=$(cd "$HERE/.." && pwd)
: "${BBQ_CACHE:=$HOME/.cache/connected-bbq}"
source "$KC_DIR/../../scripts/versions.sh" # KEYCLOAK_VERSION
MAVEN_CENTRAL=${MAVEN_CENTRAL:-https://repo1.maven.org/maven2}
DIST_ROOT="$BBQ_CACHE/keycloak/$KEYCLOAK_VERSION"
DIST="$DIST_ROOT/keycloak-$KEYCLOAK_VERSION"
PROVIDER_JAR="$KC_DIR/provider/target/bbq-keycloak-provider.jar"
# Build-time options: baked into the built home; everything else is a runtime option of start.
BUILD_OPTS=(--db=dev-file --http-relative-path=/auth --health-enabled=true --metrics-enabled=true)
# Tracing is a build-time option of Keycloak: KC_TRACING_ENABLED=true selects a built home of its own (the
# runtime KC_TRACING_* options, endpoint and protocol, are read by start from the environment).
# KC_TRACING_JDBC_ENABLED=false (build-time too) leaves out a span per SQL statement.
if [[ "${KC_TRACING_ENABLED:-false}" == "true" ]]; then
  BUILD_OPTS+=(--tracing-enabled=true --tracing-jdbc-enabled="${KC_TRACING_JDBC_ENABLED:-true}")
fi

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

# java_home picks the newest JDK on the machine (Keycloak 26 runs on 17, deprecated there, 21 and 25).
java_home() {
  if [[ -n "${KC_JAVA_HOME:-}" ]]; then
    echo "$KC_JAVA_HOME"
    return
  fi
  local best="" best_v=0 c v
  for c in /usr/lib/jvm/*/; do
    c=${c%/}
    [[ -x "$c/bin/java" && ! -L "$c" ]] || continue
    v=$("$c/bin/java" -XshowSettings:properties -version 2>&1 | awk -F= '/java.specification.version/ {gsub(/ /,"",$2); print $2}')
    if [[ "${v%%.*}" =~ ^[0-9]+$ ]] && ((${v%%.*} > best_v)); then
      best=$c best_v=${v%%.*}
    fi
  done
  if [[ -z "$best" ]]; then
    best=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
  fi
  echo "$best"
}

build_provider() {
  # Maven Central is reachable from CI; -o would fail on a fresh ~/.m2.
  (cd "$KC_DIR/provider" && JAVA_HOME=$(java_home) mvn -B -q -Dstyle.color=never -Dkeycloak.version="$KEYCLOAK_VERSION" \
    ${BBQ_PROVIDER_SKIP_TESTS:+-DskipTests} package)
  echo "$PROVIDER_JAR"
}

# built_home prints the directory of the augmented ("kc.sh build") home for the current provider jar.
built_home() {
  local stamp
  stamp=$( (echo "layout2 $KEYCLOAK_VERSION ${BUILD_OPTS[*]}"; sha256sum "$PROVIDER_JAR" 2>/dev/null || echo none) |
    sha256sum | cut -c1-12)
  echo "$DIST_ROOT/built-$stamp"
}

# with_lock runs a function under the cache's lock: test binaries and `make run` may call fetch/build at once.
with_lock() {
  mkdir -p "$DIST_ROOT"
  (
    flock 9
    "$@"
  ) 9>"$DIST_ROOT/.lock"
}

# build augments Keycloak once per provider jar and build options, so every start can be --optimized
# (start-dev re-augments on each fresh home: ~50 s on 2 cores). The provider is built only when its jar is
# missing (`build-provider` or `make test-keycloak` rebuild it).
build_locked() {
  fetch >/dev/null
  [[ -f "$PROVIDER_JAR" ]] || build_provider >/dev/null
  local home
  home=$(built_home)
  if [[ -f "$home/.built" ]]; then
    echo "$home"
    return
  fi
  # Built in place (we hold the lock): Quarkus resolves paths from where the build ran.
  rm -rf "$home" && mkdir -p "$home/lib" "$home/providers"
  cp -r "$DIST/bin" "$DIST/conf" "$home/"
  cp "$DIST/version.txt" "$home/" 2>/dev/null || true
  ln -s "$DIST/themes" "$home/themes"
  local f
  for f in "$DIST"/lib/*; do
    case "$(basename "$f")" in
      # quarkus/ is rewritten by the build; quarkus-run.jar must be a real file here, because Quarkus finds
      # the build output and ../providers relative to its resolved location.
      quarkus | quarkus-run.jar) cp -r "$f" "$home/lib/" ;;
      *) ln -s "$f" "$home/lib/$(basename "$f")" ;;
    esac
  done
  cp "$PROVIDER_JAR" "$home/providers/"
  log "kc.sh build ${BUILD_OPTS[*]} (once per provider jar)"
  local t0=$SECONDS
  JAVA_HOME=$(java_home) "$home/bin/kc.sh" build "${BUILD_OPTS[@]}" >&2
  touch "$home/.built"
  log "built $home in $((SECONDS - t0)) s"
  echo "$home"
}

build() { with_lock build_locked; }

# make_instance gives one running Keycloak its own home: its own data (H2 database, import dir) and conf,
# everything else linked read-only from the built home, so several can run at once.
make_instance() {
  local built=$1 inst=$2
  mkdir -p "$inst/data"
  local d
  for d in lib providers themes; do
    ln -sfn "$built/$d" "$inst/$d.tmp" && mv -T "$inst/$d.tmp" "$inst/$d"
  done
  rm -rf "$inst/bin" "$inst/conf"
  cp -r "$built/bin" "$built/conf" "$inst/"
}

start() {
  local built
  built=$(build)
  local port=${KC_PORT:-8080} mgmt=${KC_MANAGEMENT_PORT:-9000}
  local inst=${KC_INSTANCE_DIR:-$BBQ_CACHE/keycloak/instances/$port}
  make_instance "$built" "$inst"
  rm -rf "$inst/data/import" && mkdir -p "$inst/data/import"
  local import=()
  if [[ "${KC_IMPORT_REALM:-true}" == "true" ]]; then
    cp "${KC_REALM_DIR:-$KC_DIR/realm}"/*.json "$inst/data/import/"
    import=(--import-realm)
  fi
  export JAVA_HOME
  JAVA_HOME=$(java_home)
  if [[ -z "${KC_BOOTSTRAP_ADMIN_PASSWORD:-}" ]]; then
    log "KC_BOOTSTRAP_ADMIN_USERNAME/PASSWORD unset: using admin/admin (local development only)"
    export KC_BOOTSTRAP_ADMIN_USERNAME=${KC_BOOTSTRAP_ADMIN_USERNAME:-admin} KC_BOOTSTRAP_ADMIN_PASSWORD=admin
  fi
  # Values for the realm's ${...} placeholders (resolved at import), so a plain start works. Real secrets come
  # from the environment (the chart's Secret); these defaults are for local development only.
  export BBQ_DASHBOARD_URL=${BBQ_DASHBOARD_URL:-http://localhost:3000}
  export BBQ_USER_SERVICE_SECRET=${BBQ_USER_SERVICE_SECRET:-user-service-dev-secret}
  export BBQ_IDP_HOOK_SECRET=${BBQ_IDP_HOOK_SECRET:-idp-hook-dev-secret}
  export BBQ_TENANT_CONTROLLER_SECRET=${BBQ_TENANT_CONTROLLER_SECRET:-tenant-controller-dev-secret}
  export BBQ_SMTP_HOST=${BBQ_SMTP_HOST:-127.0.0.1}
  export BBQ_SMTP_PORT=${BBQ_SMTP_PORT:-2525}
  export BBQ_SMTP_FROM=${BBQ_SMTP_FROM:-no-reply@connectedbbq.local}
  local host=(--hostname-strict=false)
  if [[ -z "${KC_HOSTNAME:-}" ]]; then
    unset KC_HOSTNAME # Keycloak reads KC_* itself; an empty hostname is a misconfiguration to it
  else
    # Public URL (e.g. behind the dashboard's /auth proxy); services may still call Keycloak directly.
    host=(--hostname="$KC_HOSTNAME" --hostname-backchannel-dynamic=true)
  fi
  if [[ -n "${KC_WATCH_PID:-}" ]]; then
    # Test harnesses die without cleaning up (timeouts, SIGKILL), and kc.sh runs java as a child, so java
    # would outlive them. Watch the owner; when it is gone, stop Keycloak: the whole process group when we lead
    # one (kctest starts us with setpgid, and may have killed kc.sh already), else this pid (kc.sh after the
    # exec below), whose trap forwards TERM to java.
    local self=$$ target=$$
    if [[ "$(ps -o pgid= -p $$ | tr -d ' ')" == "$$" ]]; then
      target=-$$
    fi
    (
      while kill -0 "$KC_WATCH_PID" 2>/dev/null; do sleep 2; done
      kill -TERM -- "$target" 2>/dev/null || kill -TERM "$self" 2>/dev/null
    ) </dev/null >/dev/null 2>&1 &
  fi
  log "java $JAVA_HOME; home $inst; http://localhost:$port/auth (admin console /auth/admin), management :$mgmt"
  exec "$inst/bin/kc.sh" start --optimized \
    --http-enabled=true --cache=local --http-port="$port" --http-management-port="$mgmt" \
    "${host[@]}" "${import[@]}" "$@"
}

case "${1:-}" in
  fetch) with_lock fetch ;;
  build-provider) with_lock build_provider ;;
  build) build ;;
  setup) with_lock build_provider >/dev/null && build ;;
  start) shift; start "$@" ;;
  home) echo "$DIST" ;;
  built-home) built_home ;;
  version) echo "$KEYCLOAK_VERSION" ;;
  java-home) java_home ;;
  *)
    echo "usage: $0 fetch|build-provider|build|setup|start [kc.sh options]|home|built-home|version|java-home" >&2
    exit 2
    ;;
esac
