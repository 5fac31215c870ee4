# Shared by scripts/run and scripts/test: install what is missing, build.
# Sourced, not run.

CS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CS_JOBS="${CS_JOBS:-$(nproc 2>/dev/null || echo 2)}"

# Debian packages the project needs to build, run and test.
CS_APT_BUILD=(build-essential cmake pkg-config git
  libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libprotobuf-dev libpq-dev libwebsockets-dev
  libjansson-dev libjwt-dev libcmocka-dev libcurl4-openssl-dev libargon2-dev)
CS_APT_RUN=(postgresql nodejs npm)
# prometheus: its promtool lints /metrics (tests/integration/gateway.test.mjs).
CS_APT_TEST=(clang clang-format protobuf-compiler chromium libclang-rt-14-dev gcovr python3 python3-grpcio python3-protobuf curl wrk
             prometheus)

cs_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

cs_sudo() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the given Debian packages when any is missing.
cs_apt_install() {
  local missing=() p
  for p in "$@"; do
    # node and npm may come from elsewhere (e.g. /usr/local): accept the command.
    case "$p" in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  cs_log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  cs_sudo apt-get update -qq
  cs_sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm packages used by the tests (and the web console build), from the lockfile.
cs_npm_ci() {
  local dir="$1"
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    cs_log "npm ci in ${dir#$CS_ROOT/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# cs_build <build dir> [cmake options...]
cs_build() {
  local dir="$1"; shift
  cs_log "building ${dir#$CS_ROOT/} $*"
  cmake -S "$CS_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="${CS_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
  cmake --build "$dir" -j"$CS_JOBS"
}

# The web console's one dependency, the official Socket.IO client, comes from
# npm at build time and is copied next to the console (clients/web/vendor/).
cs_web_build() {
  local web="$CS_ROOT/clients/web"
  cs_npm_ci "$web"
  mkdir -p "$web/vendor"
  cp "$web/node_modules/socket.io-client/dist/socket.io.min.js" "$web/vendor/"
}

# The Node example's dependencies (@grpc/grpc-js, @grpc/proto-loader) from
# clients/examples/package-lock.json, so `node clients/examples/make_call.mjs` runs.
cs_examples_build() {
  cs_npm_ci "$CS_ROOT/clients/examples"
}
