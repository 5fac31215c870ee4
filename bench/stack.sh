# bench/stack.sh: sourced by the bench/*.sh scripts. Starts the pieces a
# benchmark needs on free loopback ports and stops exactly those, by pid:
#
#   . bench/stack.sh
#   stack_pg_start            # private PostgreSQL cluster; sets DATABASE_URL
#   stack_sim_start           # the ARI simulator; sets SIM_URL
#   stack_callsvc_start       # migrate, seed, serve; sets GRPC_ADDR, CALLSVC_PID
#   ...                       # stack_cleanup runs on exit
#
# Binaries from CS_BUILD_DIR (default build/bench, a Release build).
# PostgreSQL keeps its stock durability settings (fsync, synchronous_commit
# on) unless PG_FAST=1, which turns them off as the integration tests do;
# PG_OPTS adds server options ("-c shared_preload_libraries=pg_stat_statements").
# callsvc reaches PostgreSQL over TCP on 127.0.0.1 (as scripts/run sets it
# up) unless PG_SOCKET=1: then over the Unix socket.
# As root, PostgreSQL runs as the `postgres` user (initdb refuses root).
# Logs go to $STACK_DIR (kept when BENCH_KEEP=1).

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CS_BUILD_DIR="${CS_BUILD_DIR:-build/bench}"
case "$CS_BUILD_DIR" in /*) ;; *) CS_BUILD_DIR="$BENCH_ROOT/$CS_BUILD_DIR" ;; esac
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
CALLSVC_BIN="${CALLSVC_BIN:-$CS_BUILD_DIR/src/callsvc}"
ARI_SIM_BIN="${ARI_SIM_BIN:-$CS_BUILD_DIR/tests/ari-sim/ari-sim}"
export JWT_SECRET="${JWT_SECRET:-bench-secret-0123456789abcdef0123456789}"
export ADMIN_EMAIL="${ADMIN_EMAIL:-admin@example.com}" ADMIN_PASSWORD="${ADMIN_PASSWORD:-admin123}"
export LOG_LEVEL="${LOG_LEVEL:-warn}" LOG_DIR=""

STACK_DIR="$(mktemp -d /tmp/cs-bench-XXXXXX)"
chmod 755 "$STACK_DIR"
STACK_PIDS=()
STACK_PG_DATA=""

stack_log() { printf '[bench] %s\n' "$*" >&2; }

stack_as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# A port nothing listens on (random, checked with a connect), below the
# ephemeral range so that no outgoing connection holds it.
stack_free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((12000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

stack_wait_port() { # port what [pid whose exit ends the wait] [tries of 0.1 s]
    local i
    for i in $(seq 1 "${4:-200}"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        [ -z "${3:-}" ] || kill -0 "$3" 2>/dev/null || break
        sleep 0.1
    done
    stack_log "$2 is not listening on port $1"
    return 1
}

stack_cleanup() {
    local i pid
    for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
        pid="${STACK_PIDS[$i]}"
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    STACK_PIDS=()
    if [ -n "$STACK_PG_DATA" ]; then
        stack_as_pg "$PG_BIN/pg_ctl" -D "$STACK_PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
        STACK_PG_DATA=""
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then stack_log "logs kept in $STACK_DIR"; else rm -rf "$STACK_DIR"; fi
}
trap stack_cleanup EXIT
trap 'exit 130' INT TERM

stack_pg_start() {
    local port opts=(-c listen_addresses=127.0.0.1 -c max_connections=300)
    port="$(stack_free_port)"
    mkdir -p "$STACK_DIR/pg" "$STACK_DIR/pgsock"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$STACK_DIR/pg" "$STACK_DIR/pgsock"
    stack_as_pg "$PG_BIN/initdb" -D "$STACK_DIR/pg" -A trust -U postgres -E UTF8 --locale=C \
        >"$STACK_DIR/initdb.log" 2>&1 || { cat "$STACK_DIR/initdb.log" >&2; return 1; }
    [ "${PG_FAST:-0}" = 1 ] && opts+=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
    # shellcheck disable=SC2206
    [ -n "${PG_OPTS:-}" ] && opts+=($PG_OPTS)
    stack_as_pg "$PG_BIN/pg_ctl" -D "$STACK_DIR/pg" -l "$STACK_DIR/pg/server.log" -w \
        -o "-p $port -k $STACK_DIR/pgsock ${opts[*]}" start >/dev/null || return 1
    STACK_PG_DATA="$STACK_DIR/pg"
    PG_PID="$(head -1 "$STACK_DIR/pg/postmaster.pid")"
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres callsvc || return 1
    export DATABASE_URL="postgresql://postgres@127.0.0.1:$port/callsvc"
    [ "${PG_SOCKET:-0}" = 1 ] &&
        export DATABASE_URL="postgresql://postgres@/callsvc?host=$STACK_DIR/pgsock&port=$port"
    stack_log "PostgreSQL pid $PG_PID on $port (PG_FAST=${PG_FAST:-0} PG_SOCKET=${PG_SOCKET:-0})"
}

stack_sim_start() {
    local port
    port="$(stack_free_port)"
    "$ARI_SIM_BIN" --addr "127.0.0.1:$port" >"$STACK_DIR/ari-sim.log" 2>&1 &
    SIM_PID=$!
    STACK_PIDS+=("$SIM_PID")
    stack_wait_port "$port" ari-sim "$SIM_PID" || { tail -5 "$STACK_DIR/ari-sim.log" >&2; return 1; }
    SIM_URL="http://127.0.0.1:$port"
    export ARI_URL="$SIM_URL" ARI_USER=admin ARI_PASSWORD=admin
    stack_log "ari-sim pid $SIM_PID on $port"
}

# POST a JSON body to the simulator's control API.
stack_sim_control() { # method path [json]
    curl -sS -f -X "$1" ${3:+-H 'content-type: application/json' --data "$3"} "$SIM_URL$2" >/dev/null
}

stack_callsvc_start() {
    local port
    port="$(stack_free_port)"
    export GRPC_ADDR="127.0.0.1:$port"
    [ -n "${SIM_URL:-}" ] || export ARI_URL=""
    "$CALLSVC_BIN" migrate >>"$STACK_DIR/callsvc.log" 2>&1 || { tail "$STACK_DIR/callsvc.log" >&2; return 1; }
    "$CALLSVC_BIN" seed >>"$STACK_DIR/callsvc.log" 2>&1 || { tail "$STACK_DIR/callsvc.log" >&2; return 1; }
    "$CALLSVC_BIN" serve >>"$STACK_DIR/callsvc.log" 2>&1 &
    CALLSVC_PID=$!
    STACK_PIDS+=("$CALLSVC_PID")
    stack_wait_port "$port" callsvc "$CALLSVC_PID" || { tail "$STACK_DIR/callsvc.log" >&2; return 1; }
    sleep 0.5
    stack_log "callsvc pid $CALLSVC_PID on $GRPC_ADDR"
}

# /proc/<pid>/status field in kB (VmRSS, VmHWM).
stack_mem_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# utime+stime of a pid in clock ticks.
stack_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

stack_load() { cut -d' ' -f1-3 /proc/loadavg; }

stack_psql() { "$PG_BIN/psql" "$DATABASE_URL" -v ON_ERROR_STOP=1 -At -c "$1"; }

# An HS256 token for JWT_SECRET (as Login would issue), without asking
# callsvc: Login's argon2id verify allocates 19 MiB, which would otherwise
# be the process's peak RSS (VmHWM) rather than the workload's.
stack_mint_token() { # sub role email
    local now h p s
    b64u() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
    now="$(date +%s)"
    h="$(printf '{"alg":"HS256","typ":"JWT"}' | b64u)"
    p="$(printf '{"sub":"%s","role":"%s","email":"%s","iat":%s,"exp":%s}' "$1" "$2" "$3" "$now" \
        "$((now + 86400))" | b64u)"
    s="$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -hmac "$JWT_SECRET" -binary | b64u)"
    printf '%s.%s.%s' "$h" "$p" "$s"
}

# utime+stime of the postmaster and all its children (backends, walwriter...).
stack_pg_ticks() {
    local sum pid
    sum="$(stack_cpu_ticks "$PG_PID")"
    for pid in $(pgrep -P "$PG_PID"); do
        sum=$((sum + $(stack_cpu_ticks "$pid" 2>/dev/null || echo 0)))
    done
    echo "$sum"
}
