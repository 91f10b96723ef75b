#!/bin/sh
# The main demonstration: install what is missing, build, start an
# embedded v4vd if none runs, and run the ping-pong benchmark.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh >/dev/null
sh scripts/hv-ensure.sh
mkdir -p out
./build/src/tools/v4v bench --iters "${V4V_DEMO_ITERS:-1000}" \
	--sizes 1:65536 --json out/pingpong.json "$@"
echo "results: out/pingpong.json"
