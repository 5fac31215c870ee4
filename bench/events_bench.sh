#!/usr/bin/env bash
# WatchEvents fan-out (issue 5): 1,000 subscribers on one Release callsvc,
# call transitions committed through the real producer path at 200/s
# (bench/events_bench.mjs, emitter bench/events_bench emit).
#
#   cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DCS_WERROR=ON
#   cmake --build build/bench -j2
#   bench/events_bench.sh [--runs 1] [-- options of events_bench.mjs]
#
# events_bench.mjs options: --subs 1000 --supervisors 10 --rate 200
# --seconds 20 --channels 10. It starts its own PostgreSQL and callsvc
# through tests/integration/lib/stack.mjs (so PostgreSQL runs with the
# integration tests' settings, fsync off) and stops them. Prints one
# markdown row per run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS=1
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --) shift; break ;;
    *) break ;;
    esac
done
export CS_BUILD_DIR="${CS_BUILD_DIR:-build/bench}"
export CS_LOG_LEVEL="${CS_LOG_LEVEL:-warn}"

echo "| subscribers | rate target/s | events/s | deliveries/s | delivered/expected | p50 ms | p90 ms | p99 ms | max ms | idle KB/subscriber | CPU % callsvc / client | stream errors | load avg before |"
echo "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"
for _ in $(seq 1 "$RUNS"); do
    load="$(cut -d' ' -f1-3 /proc/loadavg)"
    out="$(cd "$ROOT" && node bench/events_bench.mjs "$@")"
    echo "$out" >&2
    node -e '
const r = JSON.parse(process.argv[1]);
const l = r.latency_ms;
console.log(`| ${r.subscribers} | ${r.target_rate} | ${r.events_per_s} | ${r.deliveries_per_s} | ` +
  `${r.deliveries}/${r.deliveries_expected} | ${l.p50} | ${l.p90} | ${l.p99} | ${l.max} | ` +
  `${r.idle_kb_per_subscriber} | ${r.callsvc_cpu_pct_of_one_core} / ${r.client_cpu_pct_of_one_core} | ${r.stream_errors} | ` +
  `${process.argv[2]} |`);' "$(sed -n '/^{/,/^}/p' <<<"$out")" "$load"
done
