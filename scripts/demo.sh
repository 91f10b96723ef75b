#!/bin/sh
# The main demonstration: install what is missing, build, start an
# embedded v4vd if none runs, and run the benchmark: ping-pong latency and
# streaming bandwidth of V4V against TCP, AF_UNIX and the generic path,
# as a table, a JSON file and a plot.  Takes under a minute.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh >/dev/null
sh scripts/hv-ensure.sh
mkdir -p out
./build/src/tools/v4v bench --json out/bench.json --plot out/bench.png "$@"
echo "results: out/bench.json, plot: out/bench.png"
