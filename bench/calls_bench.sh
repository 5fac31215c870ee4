#!/usr/bin/env bash
# Complete call cycles per second (issue 4): MakeCall -> answered -> HangupCall
# -> completed, through a Release callsvc, the ARI simulator and a private
# local PostgreSQL; every call's final state checked afterwards.
#
#   cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DCS_WERROR=ON
#   cmake --build build/bench -j2
#   bench/calls_bench.sh [--callers "16 32 64"] [--duration 10] [--hold-ms 0]
#                        [--mode internal|outbound] [--answer-ms 0] [--runs 1]
#                        [--pg-stats]
#
# Devices and trunks answer after --answer-ms (the simulator's PJSIP
# technology set to {mode: answer}); 0 answers without ringing. Each level
# is one calls_bench run against the same callsvc and database. callsvc's
# environment (WORKERS, CALLS_FLOW_WORKERS, ...) passes through. Prints a
# markdown table: cycles/s, cycle latency, wrong/missing final states,
# CPU ms per call of callsvc, PostgreSQL (all backends), the simulator and
# the client, and the load average before each run. --pg-stats loads
# pg_stat_statements and prints, after each run, every statement's count
# and execution time per call made (setup and the checks after the run included: GetCall,
# ListCallHistory, CreateUser...) and the totals.
set -euo pipefail
. "$(dirname "$0")/stack.sh"

LEVELS="16 32 64" DURATION=10 HOLD=0 MODE=internal ANSWER_MS=0 RUNS=1 PG_STATS=0
while [ $# -gt 0 ]; do
    case "$1" in
    --callers) LEVELS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --hold-ms) HOLD="$2"; shift 2 ;;
    --mode) MODE="$2"; shift 2 ;;
    --answer-ms) ANSWER_MS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --pg-stats) PG_STATS=1; shift ;;
    *) sed -n '7,10p' "$0" >&2; exit 2 ;;
    esac
done
CALLS_BENCH="$CS_BUILD_DIR/bench/calls_bench"
export RING_TIMEOUT_S="${RING_TIMEOUT_S:-10}"

[ "$PG_STATS" = 1 ] && export PG_OPTS="${PG_OPTS:-} -c shared_preload_libraries=pg_stat_statements"
stack_pg_start
[ "$PG_STATS" = 1 ] && stack_psql "create extension pg_stat_statements" >/dev/null
stack_sim_start
stack_sim_control POST /_sim/endpoints/PJSIP "{\"mode\":\"answer\",\"answer_after_ms\":$ANSWER_MS}"
stack_callsvc_start
stack_log "callsvc WORKERS=${WORKERS:-0 (2 x cores)} CALLS_FLOW_WORKERS=${CALLS_FLOW_WORKERS:-4 (default)}"
ADMIN_TOKEN="$(stack_mint_token "$(stack_psql "select id from users where email = '$ADMIN_EMAIL'")" \
    admin "$ADMIN_EMAIL")"

echo "| callers | mode | hold ms | cycles/s | calls | wrong/missing | cycle p50 ms | cycle p99 ms | CPU ms/call callsvc | postgres | ari-sim | client | load avg before |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
status=0
for n in $LEVELS; do
    for _ in $(seq 1 "$RUNS"); do
        load="$(stack_load)"
        [ "$PG_STATS" = 1 ] && stack_psql "select pg_stat_statements_reset()" >/dev/null
        out="$("$CALLS_BENCH" --addr "$GRPC_ADDR" --token "$ADMIN_TOKEN" --callers "$n" \
            --duration "$DURATION" --hold-ms "$HOLD" --mode "$MODE" \
            --cpu "callsvc=$CALLSVC_PID,sim=$SIM_PID" --cpu-pg "$PG_PID")" || status=1
        sed '$d' <<<"$out" >&2
        res="$(tail -1 <<<"$out")"
        get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$res"; }
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$MODE" \
            "$HOLD" "$(get rate)" "$(get calls)" "$(($(get wrong) + $(get history_bad)))" \
            "$(get cycle_p50)" "$(get cycle_p99)" "$(get cpu_ms_callsvc)" "$(get cpu_ms_postgres)" \
            "$(get cpu_ms_sim)" "$(get cpu_ms_bench)" "$load"
        if [ "$PG_STATS" = 1 ] && [ "$(get calls)" -gt 0 ]; then
            stack_psql "select round(sum(calls)::numeric / $(get calls), 2) || ' statements per call, '
                || round(sum(calls) filter (where query in ('BEGIN', 'COMMIT'))::numeric / 2
                   / $(get calls), 2) || ' transactions per call'
                from pg_stat_statements where query not like '%pg_stat_statements%'" >&2
            stack_psql "select to_char(calls::numeric / $(get calls), '990.99') || '  '
                || to_char(total_exec_time / $(get calls), '990.999') || ' ms  '
                || left(regexp_replace(query, '\s+', ' ', 'g'), 100)
                from pg_stat_statements where query not like '%pg_stat_statements%'
                order by calls desc, query" >&2
        fi
    done
done
stack_log "callsvc RSS $(stack_mem_kb "$CALLSVC_PID" VmRSS) kB, peak $(stack_mem_kb "$CALLSVC_PID" VmHWM) kB"
exit $status
