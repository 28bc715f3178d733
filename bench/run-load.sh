#!/bin/sh
# The stateless load sweep of bench/RESULTS.md: A/B (server, floor, server, floor…) at 100 and
# 1000/s for two rounds, 200 and 500/s for one, 60 s each. About 15 minutes. Results (JSON and
# the markdown tables) go to ${OUT:-/tmp/mcp-v8-load}.
set -eu
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
OUT="${OUT:-/tmp/mcp-v8-load}"
mkdir -p "$OUT"
node --version
node bench/load.ts --ab --rates 100,1000 --rounds 2 --duration 60 --out "$OUT/ab-100-1000.json" | tee "$OUT/ab-100-1000.md"
node bench/load.ts --ab --rates 200,500 --rounds 1 --duration 60 --out "$OUT/ab-200-500.json" | tee "$OUT/ab-200-500.md"
