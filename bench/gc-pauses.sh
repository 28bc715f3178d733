#!/bin/bash
# The event loop's garbage collection under the stateless time-to-result load, two builds in turns
# (A B A B …): per finished run, the bytes the event loop's isolate allocated, the bytes that
# survived a scavenge and were promoted, and the scavenges' pause (wall time, so a loaded machine
# lengthens it), from V8's --trace-gc-nvp lines of that isolate only (the sandbox isolates have
# their own), over the measured window after 3 s of warm-up.
#   bench/gc-pauses.sh <checkout A> <checkout B> <rate> [seconds=10] [rounds=2]
# FLAGS_A / FLAGS_B: extra node flags for A's or B's server (the same checkout twice with and
# without a V8 flag isolates that flag).
set -euo pipefail
a=$1; b=$2; rate=$3; secs=${4:-10}; rounds=${5:-2}
port=${GC_PORT:-$((20000 + RANDOM % 20000))}
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH=$here/node_modules/.bin:$PATH
for round in $(seq "$rounds"); do
  for side in A B; do
    if [ $side = A ]; then dir=$a; flags=${FLAGS_A:-}; else dir=$b; flags=${FLAGS_B:-}; fi
    db=$(mktemp -d)
    # shellcheck disable=SC2086
    (cd "$dir" && exec node --no-node-snapshot --trace-gc-nvp $flags src/cli.ts --stateless --http-port "$port" --execution-db-path "$db/executions" >"$db/gc.txt" 2>/dev/null) &
    pid=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
    node "$here/bench/load.ts" --url "http://127.0.0.1:$port" --server-pid "$pid" --rate "$rate" --duration 3 --warmup 0 >/dev/null 2>&1
    first=$(wc -l < "$db/gc.txt")
    line=$(node "$here/bench/load.ts" --url "http://127.0.0.1:$port" --server-pid "$pid" --rate "$rate" --duration "$secs" --warmup 0 2>&1 | grep " round 1:")
    last=$(wc -l < "$db/gc.txt")
    kill -TERM "$pid"; wait "$pid" || true
    # The event loop's isolate: the first to collect (while the server's modules load, before any other isolate exists).
    isolate=$(grep -o '^\[[0-9]*:0x[0-9a-f]*:' "$db/gc.txt" | head -1)
    runs=$(echo "$line" | sed -E 's/.*iter\/s ([0-9.]+).*/\1/' | awk -v s="$secs" '{printf "%d", $1 * s}')
    sed -n "$((first + 1)),${last}p" "$db/gc.txt" | grep -F "$isolate" | grep ' gc=s ' | awk -v runs="$runs" -v tag="round $round $side $dir $flags" -v rest="$(echo "$line" | sed -E 's/.*(iter\/s [0-9.]+).*(time to result p50 [0-9.]+ p95 [0-9.]+).*(dropped [0-9]+).*main thread ([0-9]+%)\), ([0-9.]+ ms CPU per run); (load average [0-9.]+).*/\1, \2, \3, main thread \4, \5, \6/')" '
      { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "allocated") alloc += kv[2]; if (kv[1] == "promoted") prom += kv[2]; if (kv[1] == "new_space_survived") surv += kv[2]; if (kv[1] == "pause") { pause += kv[2]; if (kv[2] > worst) worst = kv[2] } } n++ }
      END { printf "%s: %d runs, %d scavenges, allocated %.0f B/run, survived %.0f B/run, promoted %.0f B/run, scavenge pause %.3f ms/run (longest %.1f ms) | %s\n", tag, runs, n, alloc / runs, surv / runs, prom / runs, pause / runs, worst, rest }'
    rm -rf "$db"
  done
done
