#!/usr/bin/env bash
# GetProfile throughput and latency at 1, 16 and 64 concurrent callers
# (issue 2), against a Release callsvc on a private local PostgreSQL:
#
#   cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DCS_WERROR=ON
#   cmake --build build/bench -j2
#   bench/unary_bench.sh [--duration 10] [--levels "1 16 64"] [--channels 4]
#
# Each level is one unary_bench run (closed loop, 2 client threads, 1 s
# warm-up) with the admin's token, minted for JWT_SECRET by the script
# (--login: obtained through UserService/Login instead, which makes
# Login's 19 MiB argon2id verify the process's VmHWM). Prints a markdown
# table: calls/s, p50/p90/p99/max, errors, callsvc RSS after the level and
# its peak (VmHWM), CPU per call of callsvc, PostgreSQL (all its processes)
# and the client (over warm-up + duration, at the measured rate), and the
# load average before each level. Everything it starts is stopped by pid on
# exit (bench/stack.sh).
set -euo pipefail
. "$(dirname "$0")/stack.sh"

DURATION=10 LEVELS="1 16 64" CHANNELS=4 LOGIN=0
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --levels) LEVELS="$2"; shift 2 ;;
    --channels) CHANNELS="$2"; shift 2 ;;
    --login) LOGIN=1; shift ;;
    *) echo "usage: $0 [--duration S] [--levels \"1 16 64\"] [--channels N] [--login]" >&2; exit 2 ;;
    esac
done
UNARY_BENCH="$CS_BUILD_DIR/bench/unary_bench"

stack_pg_start
stack_callsvc_start
if [ "$LOGIN" = 1 ]; then
    AUTH=(--login "$ADMIN_EMAIL:$ADMIN_PASSWORD")
else
    AUTH=(--token "$(stack_mint_token "$(stack_psql "select id from users where email = '$ADMIN_EMAIL'")" \
        admin "$ADMIN_EMAIL")")
fi
stack_log "callsvc WORKERS=${WORKERS:-0 (2 x cores)}, RSS $(stack_mem_kb "$CALLSVC_PID" VmRSS) kB idle"

echo "| callers | channels | calls/s | p50 ms | p90 ms | p99 ms | max ms | errors | RSS MB | VmHWM MB | CPU µs/call callsvc | postgres | client | load avg before |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for n in $LEVELS; do
    ch=$CHANNELS
    [ "$n" -lt "$ch" ] && ch=$n
    load="$(stack_load)"
    svc0="$(stack_cpu_ticks "$CALLSVC_PID")" pg0="$(stack_pg_ticks)"
    out="$(/usr/bin/time -f 'TIME %U %S' -o "$STACK_DIR/time" "$UNARY_BENCH" --addr "$GRPC_ADDR" "${AUTH[@]}" \
        --concurrency "$n" --channels "$ch" --threads 2 --duration "$DURATION" --warmup 1)" || {
        echo "$out" >&2
        exit 1
    }
    svc1="$(stack_cpu_ticks "$CALLSVC_PID")" pg1="$(stack_pg_ticks)"
    stack_log "$out"
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$out" | tr -d 'ms/'; }
    # CPU over warm-up + duration, per call at the measured rate
    per_call() { echo "$1 * 10000 / ($DURATION + 1) / $(get rate)" | bc -l; }
    client="$(awk '/^TIME/ { print ($2 + $3) * 100 }' "$STACK_DIR/time")"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %.1f | %.0f | %.0f | %.0f | %s |\n' "$n" "$ch" \
        "$(get rate)" "$(get p50)" "$(get p90)" "$(get p99)" "$(get max)" "$(get errors)" \
        "$(echo "$(stack_mem_kb "$CALLSVC_PID" VmRSS) / 1024" | bc -l)" \
        "$(echo "$(stack_mem_kb "$CALLSVC_PID" VmHWM) / 1024" | bc -l)" \
        "$(per_call $((svc1 - svc0)))" "$(per_call $((pg1 - pg0)))" "$(per_call "$client")" "$load"
done
