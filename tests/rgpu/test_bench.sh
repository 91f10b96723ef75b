#!/bin/sh
# rgpu-server and rgpu-bench as a user meets them: help, usage errors and
# exit codes, then a small experiment over v4v, tcp and local (CPU
# backend) whose JSON records must all be correct, and a plot.
set -u
: "${V4VD:?}" "${RGPU_SERVER_BIN:?}" "${RGPU_BENCH:?}"
. "$(dirname "$0")/../lib.sh"
t_setup rgpubench

expect_rc 0 "rgpu-server --help" "$RGPU_SERVER_BIN" --help
grep -q -- "--chunk-size" "$dir/out" || bad "server help lists --chunk-size"
expect_rc 2 "rgpu-server bad option" "$RGPU_SERVER_BIN" --bogus
expect_rc 2 "rgpu-server bad chunk" "$RGPU_SERVER_BIN" --chunk-size 1K
expect_rc 1 "rgpu-server without v4vd" "$RGPU_SERVER_BIN" --backend cpu --no-tcp
grep -q "v4vd running" "$dir/err" || bad "says v4vd is not running"
expect_rc 0 "rgpu-bench --help" "$RGPU_BENCH" --help
expect_rc 2 "rgpu-bench bad size" "$RGPU_BENCH" --sizes 12
expect_rc 2 "rgpu-bench bad transport" "$RGPU_BENCH" --transports ib

start_v4vd
expect_rc 0 "rgpu-bench small run" "$RGPU_BENCH" --backend cpu \
	--sizes 64,200 --reps 2 --server-bin "$RGPU_SERVER_BIN" \
	--json "$dir/b.json" --plot "$dir/b.png"
cat "$dir/out"
n=$(grep -c '"ok": true' "$dir/b.json")
[ "$n" -eq 12 ] && ok "12 correct records" || bad "12 correct records (got $n)"
grep -q '"transport": "v4v", "backend": "cpu", "kernel": "matmul", "n": 200' \
	"$dir/b.json" && ok "record fields" || bad "record fields"
grep -q "v4v .*x faster" "$dir/out" && ok "v4v/tcp ratio line" || bad "ratio line"
if command -v gnuplot >/dev/null; then
	[ -s "$dir/b.png" ] && ok "plot written" || bad "plot written"
fi
t_done
