#!/bin/sh
# rgpu-server and rgpu-bench as a user meets them: help, usage errors and
# exit codes, then a small experiment over v4v, tcp, local and
# local-pinned (CPU backend) whose JSON records must all be correct, and a
# plot; then copies split over lanes, staged as for a GPU.
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
expect_rc 2 "rgpu-bench bad lanes" "$RGPU_BENCH" --lanes 0
expect_rc 2 "rgpu-server bad lanes" "$RGPU_SERVER_BIN" --max-lanes 17

start_v4vd
expect_rc 0 "rgpu-bench small run" "$RGPU_BENCH" --backend cpu \
	--sizes 64,200 --reps 2 --server-bin "$RGPU_SERVER_BIN" \
	--json "$dir/b.json" --plot "$dir/b.png"
cat "$dir/out"
n=$(grep -c '"ok": true' "$dir/b.json")
[ "$n" -eq 16 ] && ok "16 correct records" || bad "16 correct records (got $n)"
grep -q '"transport": "local-pinned", "backend": "cpu"' "$dir/b.json" &&
	ok "local-pinned records" || bad "local-pinned records"
grep -q "v4v speed: htod .* of local, .* of local-pinned; dtoh" "$dir/out" &&
	ok "v4v against both local baselines" || bad "baselines line"
grep -q '"transport": "v4v", "backend": "cpu", "kernel": "matmul", "n": 200' \
	"$dir/b.json" && ok "record fields" || bad "record fields"
grep -q "v4v .*x faster" "$dir/out" && ok "v4v/tcp ratio line" || bad "ratio line"
expect_rc 0 "rgpu-bench over lanes" "$RGPU_BENCH" --backend cpu --staged \
	--sizes 1024 --kernels stencil --reps 2 --lanes 3 --transports v4v,tcp \
	--server-bin "$RGPU_SERVER_BIN" --json "$dir/l.json"
n=$(grep -c '"ok": true' "$dir/l.json")
[ "$n" -eq 2 ] && ok "lanes: 2 correct records" || bad "lanes records (got $n)"
if command -v gnuplot >/dev/null; then
	[ -s "$dir/b.png" ] && ok "plot written" || bad "plot written"
fi
t_done
