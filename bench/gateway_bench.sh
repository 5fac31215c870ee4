#!/usr/bin/env bash
# The REST gateway under wrk (issue 6): callgw -> callsvc -> PostgreSQL, all
# Release builds on the same machine as wrk.
#
#   cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DCS_WERROR=ON
#   cmake --build build/bench -j2 --target callgw callsvc
#   bench/gateway_bench.sh [--duration 10] [--connections 64] [--threads 2] [--warmup 3]
#                          [--paths "/api/users/profile ..."]
#
# The stack (bench/stack.sh): a private PostgreSQL cluster, callsvc with no
# Asterisk (ARI_URL=''), callgw in front of it, on free loopback ports.
# The data: one agent, created through POST /api/users, with 20 active and
# 180 ended calls inserted straight into `calls` and `call_parties` with SQL
# (sql/migrations/0002_calls.sql), spread over the last 20 hours so that
# the default statistics period (24 h) holds all 200. The agent's token is
# minted for JWT_SECRET (as Login would issue it). Each endpoint is checked
# once with curl (status and counts), warmed up, then measured with
# `wrk -t2 -c64 -d10s --latency`. Prints a markdown table: req/s, p50, p90,
# p99, max, non-2xx and socket errors, callgw RSS and peak (VmHWM) after the
# run, callgw/callsvc/PostgreSQL CPU share during it, and the load average
# before it.
#
# Tuning knobs go through the environment as usual: WORKERS (callsvc),
# CALLGW_ENV="NAME=value ..." (callgw), PG_FAST=1, PG_OPTS. PERF_OUT=dir
# records `perf record -a -g` during each measured run into dir/<n>.data
# (PERF_ARGS replaces `-F 499 -a -g`; "$CALLGW_PID" in it is expanded, e.g.
# PERF_ARGS='-F 999 --call-graph dwarf -p $CALLGW_PID') and prints the CPU
# share per command (wrk, callgw, callsvc, postgres and whatever else ran on
# the machine) to stderr. PG_STATEMENTS=1 loads pg_stat_statements and
# prints, after each measured run, every statement PostgreSQL ran during it
# (executions per request, mean execution time, rows per execution) to
# stderr; it adds its own cost, so CPU figures are best taken without it.
#
# A/B mode: CALLGW_BIN_B=path starts a second callgw (B) beside the first (A)
# on the same callsvc and data, checks that A and B answer every path with
# the same bytes (the answers are compared with cmp; A is asked twice so
# that an answer that changes by itself is not blamed on B), then measures
# each path AB_ROUNDS times (default 2) as A, B, A, B, ... so that both see
# the same machine state. The table gets a "gw" column (A or B).
set -euo pipefail
. "$(dirname "$0")/stack.sh"

DURATION=10 CONNS=64 THREADS=2 WARMUP=3
PATHS="/api/users/profile /api/calls/active /api/calls/history?page=1&limit=20 /api/calls/statistics"
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --paths) PATHS="$2"; shift 2 ;;
    *) echo "usage: $0 [--duration S] [--connections N] [--threads N] [--warmup S] [--paths \"...\"]" >&2
       exit 2 ;;
    esac
done
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
CALLGW_BIN="${CALLGW_BIN:-$CS_BUILD_DIR/gateway/callgw}"

[ "${PG_STATEMENTS:-0}" = 1 ] &&
    PG_OPTS="${PG_OPTS:-} -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
stack_pg_start
stack_callsvc_start
[ "${PG_STATEMENTS:-0}" = 1 ] && stack_psql "create extension pg_stat_statements" >/dev/null

port="$(stack_free_port)"
GW="http://127.0.0.1:$port"
# shellcheck disable=SC2086
env HTTP_ADDR="127.0.0.1:$port" CALLSVC_ADDR="$GRPC_ADDR" ${CALLGW_ENV:-} "$CALLGW_BIN" \
    >"$STACK_DIR/callgw.log" 2>&1 &
CALLGW_PID=$!
STACK_PIDS+=("$CALLGW_PID")
stack_wait_port "$port" callgw || { tail "$STACK_DIR/callgw.log" >&2; exit 1; }
stack_log "callgw pid $CALLGW_PID on $port (${CALLGW_ENV:-defaults}), RSS $(stack_mem_kb "$CALLGW_PID" VmRSS) kB idle"
if [ -n "${CALLGW_BIN_B:-}" ]; then
    port_b="$(stack_free_port)"
    GW_B="http://127.0.0.1:$port_b"
    # shellcheck disable=SC2086
    env HTTP_ADDR="127.0.0.1:$port_b" CALLSVC_ADDR="$GRPC_ADDR" ${CALLGW_ENV:-} "$CALLGW_BIN_B" \
        >"$STACK_DIR/callgw_b.log" 2>&1 &
    CALLGW_PID_B=$!
    STACK_PIDS+=("$CALLGW_PID_B")
    stack_wait_port "$port_b" callgw || { tail "$STACK_DIR/callgw_b.log" >&2; exit 1; }
    stack_log "callgw B ($CALLGW_BIN_B) pid $CALLGW_PID_B on $port_b, RSS $(stack_mem_kb "$CALLGW_PID_B" VmRSS) kB idle"
fi

# ---- data ------------------------------------------------------------------
ADMIN_ID="$(stack_psql "select id from users where email = '$ADMIN_EMAIL'")"
ADMIN_TOKEN="$(stack_mint_token "$ADMIN_ID" admin "$ADMIN_EMAIL")"
AGENT_EMAIL="bench-agent@example.com"
curl -sS -f -o /dev/null -X POST "$GW/api/users" -H "authorization: Bearer $ADMIN_TOKEN" \
    -H 'content-type: application/json' \
    --data "{\"name\":\"Bench Agent\",\"email\":\"$AGENT_EMAIL\",\"password\":\"benchpass1\",\"role\":\"agent\"}"
AGENT_ID="$(stack_psql "select id from users where email = '$AGENT_EMAIL'")"
AGENT_TOKEN="$(stack_mint_token "$AGENT_ID" agent "$AGENT_EMAIL")"
stack_psql "
with u as (select u.id, u.name, d.extension from users u join sip_devices d on d.user_id = u.id
           where u.id = '$AGENT_ID'),
g as (select n, now() - make_interval(secs => n * 360) as t0 from generate_series(1, 200) n),
c as (
  insert into calls (id, direction, status, caller_user_id, caller_name, caller_extension,
                     callee_number, hangup_cause, created_at, ringing_at, answered_at, ended_at,
                     caller_channel_id, callee_channel_id, caller_up, callee_up, bridge_id, version)
  select gen_random_uuid(), 'outbound',
         case when n <= 20 then 'in_progress' when n % 5 = 0 then 'busy'
              when n % 7 = 0 then 'no_answer' else 'completed' end,
         u.id, u.name, u.extension, (5550000 + n)::text,
         case when n <= 20 then '' when n % 5 = 0 then 'busy' when n % 7 = 0 then 'no_answer'
              else 'normal' end,
         t0, t0 + interval '1 s',
         case when n <= 20 or (n % 5 <> 0 and n % 7 <> 0) then t0 + interval '4 s' end,
         case when n > 20 then t0 + make_interval(secs => 4 + n % 300) end,
         'ch-' || n || '.a', 'ch-' || n || '.b', true, n <= 20 or (n % 5 <> 0 and n % 7 <> 0),
         case when n <= 20 then 'br-' || n end, 3
  from g, u
  returning id, caller_user_id, created_at)
insert into call_parties (call_id, user_id, created_at) select id, caller_user_id, created_at from c;
analyze calls; analyze call_parties;" >/dev/null

# ---- checks ----------------------------------------------------------------
get() { curl -sS -f -H "authorization: Bearer $AGENT_TOKEN" "$GW$1"; }
jcount() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
[ "$(get /api/users/profile | jcount 'd["email"]')" = "$AGENT_EMAIL" ]
[ "$(get /api/calls/active | jcount 'len(d["calls"])')" = 20 ]
[ "$(get '/api/calls/history?page=1&limit=20' | jcount 'len(d["calls"]), d["pageInfo"]["total"]')" = "20 200" ]
[ "$(get /api/calls/statistics | jcount 'd["total"]')" = 200 ]
stack_log "seeded: agent $AGENT_ID with 20 active and 180 ended calls; the answers check out"
for p in $PATHS; do
    stack_log "$p: $(get "$p" | wc -c) bytes of JSON"
done
if [ -n "${CALLGW_BIN_B:-}" ]; then
    for p in $PATHS; do
        curl -sS -f -H "authorization: Bearer $AGENT_TOKEN" "$GW$p" >"$STACK_DIR/a1"
        curl -sS -f -H "authorization: Bearer $AGENT_TOKEN" "$GW_B$p" >"$STACK_DIR/b"
        curl -sS -f -H "authorization: Bearer $AGENT_TOKEN" "$GW$p" >"$STACK_DIR/a2"
        if cmp -s "$STACK_DIR/a1" "$STACK_DIR/b"; then
            stack_log "$p: A and B answer the same $(wc -c <"$STACK_DIR/b") bytes"
        elif cmp -s "$STACK_DIR/a1" "$STACK_DIR/a2"; then
            stack_log "$p: A and B answer different bytes:"$'\n'"$(cmp "$STACK_DIR/a1" "$STACK_DIR/b" || true)"
            exit 1
        else
            stack_log "$p: the answer changes by itself; not compared"
        fi
    done
fi

# ---- measure ---------------------------------------------------------------
ticks() { stack_cpu_ticks "$1"; }
pg_ticks() { # the postmaster and its children (backends, which live for the whole run)
    local t=0 pid
    for pid in "$PG_PID" $(pgrep -P "$PG_PID"); do
        t=$((t + $(stack_cpu_ticks "$pid" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
csw() { # context switches of every thread of a pid
    cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'
}
HZ="$(getconf CLK_TCK)"
pct() { echo "scale=0; 100 * ($2 - $1) / $HZ / $DURATION" | bc; }
usreq() { echo "scale=0; 1000000 * ($2 - $1) / $HZ / $3" | bc; } # CPU µs per request
ms() { # wrk's "1.23ms" / "456.78us" / "1.02s" -> ms
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/) n *= 1000;
        printf "%.2f", n }'
}

echo "| endpoint | ${CALLGW_BIN_B:+gw | }req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket errors | callgw RSS MB | callgw VmHWM MB | CPU % callgw / callsvc / postgres | CPU µs per request callgw / callsvc / postgres | load avg before |"
echo "|---|${CALLGW_BIN_B:+---|}---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
# One measured run of path $1 against gateway $2 (A or B).
measure() {
    local p="$1" which="$2" GW="$GW" CALLGW_PID="$CALLGW_PID" col=""
    if [ "$which" = B ]; then GW="$GW_B" CALLGW_PID="$CALLGW_PID_B"; fi
    [ -n "${CALLGW_BIN_B:-}" ] && col="$which | "
    wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -H "authorization: Bearer $AGENT_TOKEN" "$GW$p" >/dev/null
    load="$(stack_load)"
    n=$((${n:-0} + 1))
    if [ -n "${PERF_OUT:-}" ]; then
        mkdir -p "$PERF_OUT"
        # shellcheck disable=SC2046 # PERF_ARGS is a list of words
        perf record -q -o "$PERF_OUT/$n.data" $(eval echo "${PERF_ARGS:--F 499 -a -g}") -- sleep "$((DURATION - 1))" 2>/dev/null &
        perf_pid=$!
    fi
    [ "${PG_STATEMENTS:-0}" = 1 ] && stack_psql "select pg_stat_statements_reset()" >/dev/null
    g0=$(ticks "$CALLGW_PID") s0=$(ticks "$CALLSVC_PID") p0=$(pg_ticks)
    gc0=$(csw "$CALLGW_PID") sc0=$(csw "$CALLSVC_PID")
    out="$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
        -H "authorization: Bearer $AGENT_TOKEN" "$GW$p")"
    g1=$(ticks "$CALLGW_PID") s1=$(ticks "$CALLSVC_PID") p1=$(pg_ticks)
    gc1=$(csw "$CALLGW_PID") sc1=$(csw "$CALLSVC_PID")
    stack_log "$p"$'\n'"$out"
    if [ -n "${PERF_OUT:-}" ]; then
        wait "$perf_pid" || true
        stack_log "CPU share by command during $p ($PERF_OUT/$n.data):"$'\n'"$(perf report -i \
            "$PERF_OUT/$n.data" --sort comm --stdio --no-children 2>/dev/null | grep -E '^ +[0-9]' | head -12)"
    fi
    nreq="$(awk '/requests in/ { print $1 }' <<<"$out")"
    if [ "${PG_STATEMENTS:-0}" = 1 ]; then
        stack_log "statements during $p (per request, mean µs per execution, rows per execution):"$'\n'"$(
            stack_psql "select round(calls::numeric / $nreq, 2), round((mean_exec_time * 1000)::numeric, 1),
                round(rows::numeric / calls, 1), left(regexp_replace(query, '\s+', ' ', 'g'), 60) || ' … ' ||
                right(regexp_replace(query, '\s+', ' ', 'g'), 60)
                from pg_stat_statements where query not like '%pg_stat_statements%'
                order by total_exec_time desc limit 8")"
    fi
    rps="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")"
    lat() { awk -v q="$1" '$1 == q { print $2 }' <<<"$out"; }
    max="$(awk '$1 == "Latency" { print $4; exit }' <<<"$out")"
    non2xx="$(awk '/Non-2xx/ { print $NF }' <<<"$out")"
    sockerr="$(sed -n 's/.*Socket errors: \(.*\)/\1/p' <<<"$out")"
    stack_log "context switches per request: callgw $(echo "scale=2; ($gc1 - $gc0) / $nreq" | bc)," \
        "callsvc $(echo "scale=2; ($sc1 - $sc0) / $nreq" | bc)"
    printf '| `GET %s` | %s%s | %s | %s | %s | %s | %s | %s | %.1f | %.1f | %s / %s / %s | %s / %s / %s | %s |\n' "$p" "$col" "$rps" \
        "$(ms "$(lat 50%)")" "$(ms "$(lat 90%)")" "$(ms "$(lat 99%)")" "$(ms "$max")" \
        "${non2xx:-0}" "${sockerr:-none}" \
        "$(echo "$(stack_mem_kb "$CALLGW_PID" VmRSS) / 1024" | bc -l)" \
        "$(echo "$(stack_mem_kb "$CALLGW_PID" VmHWM) / 1024" | bc -l)" \
        "$(pct "$g0" "$g1")" "$(pct "$s0" "$s1")" "$(pct "$p0" "$p1")" \
        "$(usreq "$g0" "$g1" "$nreq")" "$(usreq "$s0" "$s1" "$nreq")" "$(usreq "$p0" "$p1" "$nreq")" "$load"
}
for p in $PATHS; do
    if [ -n "${CALLGW_BIN_B:-}" ]; then
        for _ in $(seq "${AB_ROUNDS:-2}"); do
            measure "$p" A
            measure "$p" B
        done
    else
        measure "$p" A
    fi
done
