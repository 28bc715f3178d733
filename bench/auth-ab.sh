#!/usr/bin/env bash
# The cost of bearer-token auth under load: the stateless load test (bench/load.ts) against a
# fresh server without and with --auth-token, in turns (A B A B …). Usage:
#   bash bench/auth-ab.sh [rate=1000] [duration=20] [rounds=3]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
rate=${1:-1000}; duration=${2:-20}; rounds=${3:-3}
token="bench-$(node -e 'console.log(require("crypto").randomBytes(24).toString("hex"))')"
for round in $(seq 1 "$rounds"); do
  echo "== round $round: no auth"
  node bench/load.ts --spawn --rate "$rate" --duration "$duration" --warmup 2 2>&1 | grep '^mcp-v8 '
  echo "== round $round: --auth-token"
  node bench/load.ts --spawn --rate "$rate" --duration "$duration" --warmup 2 --server-args="--auth-token bench=$token" --token "$token" 2>&1 | grep '^mcp-v8 '
done
