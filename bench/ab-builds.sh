#!/bin/bash
# A/B two builds of the server at one rate, alternately (A B A B …), with the load harness:
#   bench/ab-builds.sh <checkout A> <checkout B> <rate> [seconds=30] [rounds=2]
# Each checkout needs its node_modules (a symlink to this one's is enough). Servers listen on
# 127.0.0.1:$AB_PORT (default: a random port in 20000-39999, so two A/Bs on one machine do not
# meet) with a fresh execution store per run; the harness's line per run is printed
# with the checkout it measured. STATEFUL=1: stateful servers (fresh heap directory and session
# database per run) under the chained stateful load (each VU resumes its previous heap).
set -euo pipefail
a=$1; b=$2; rate=$3; secs=${4:-30}; rounds=${5:-2}
port=${AB_PORT:-$((20000 + RANDOM % 20000))}
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH=$here/node_modules/.bin:$PATH
for round in $(seq "$rounds"); do
  for dir in "$a" "$b"; do
    db=$(mktemp -d)
    mode=(--stateless); load=()
    if [ "${STATEFUL:-}" = 1 ]; then mode=(--directory-path "$db/heaps" --session-db-path "$db/sessions"); load=(--stateful --chained); fi
    (cd "$dir" && exec node --no-node-snapshot src/cli.ts "${mode[@]}" --http-port $port --execution-db-path "$db/executions" 2>/dev/null) &
    pid=$!
    for _ in $(seq 50); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.2; done
    node "$here/bench/load.ts" --url http://127.0.0.1:$port --server-pid "$pid" --rate "$rate" --duration "$secs" --warmup 2 "${load[@]}" 2>&1 \
      | grep " round 1:" | sed "s|^|round $round $dir: |"
    kill -TERM "$pid"; wait "$pid" || true
    rm -rf "$db"
  done
done
