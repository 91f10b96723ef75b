#!/bin/sh
# v4v bench aggregate and v4v bench report with tiny parameters: the
# tables, the JSON records and the report files are there and well-formed.
# Not a measurement: the windows are far too short for that.
set -u
: "${V4VD:?set V4VD to the v4vd binary}" "${V4V:?set V4V to the v4v binary}"
. "$(dirname "$0")/../lib.sh"
t_setup v4vbagg

start_v4vd

"$V4V" bench aggregate --help >"$dir/help" 2>&1
check "aggregate --help" grep -q -- "--pairs" "$dir/help"
"$V4V" bench aggregate --pairs 0 >/dev/null 2>&1
check "aggregate rejects 0 pairs (exit 2)" test $? -eq 2
"$V4V" bench aggregate --sizes 4K:1K >/dev/null 2>&1
check "aggregate rejects MIN > MAX (exit 2)" test $? -eq 2

# Two pairs, two sizes, both modes, V4V direct and TCP.
"$V4V" bench aggregate -q --pairs 1,2 --sizes 4K:16K --seconds 0.05 \
	--warmup 0.02 --transports v4v,tcp --pin spread --llc 1M \
	--memref-seconds 0.05 --json "$dir/agg.json" >"$dir/agg.out" 2>"$dir/agg.err"
rc=$?
check "aggregate exits 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$dir/agg.err"
check "streaming table" grep -q "^Aggregate streaming" "$dir/agg.out"
check "ping-pong table" grep -q "^Aggregate ping-pong" "$dir/agg.out"
check "memcpy reference printed" grep -q "Memory-bandwidth reference" "$dir/agg.out"
# 2 transports x 2 modes x 2 sizes x 2 pair counts, every one with bytes.
n=$(grep -c '^v4v  *\(stream\|pingpong\) \|^tcp  *\(stream\|pingpong\) ' "$dir/agg.out")
check "16 detail lines (got $n)" test "$n" -eq 16
check "no point without bytes" awk '/^(v4v|tcp) +(stream|pingpong) /{ if ($5 <= 0) bad = 1 } END { exit bad }' "$dir/agg.out"
check "JSON is well-formed" python3 -c "
import json, sys
r = json.load(open('$dir/agg.json'))
mem = [x for x in r if x['transport'] == 'memcpy']
agg = [x for x in r if x['transport'] != 'memcpy']
assert len(mem) == 2 and all(x['mode'] == 'aggregate' and x['threads'] >= 1 and x['size'] > 0 and x['mbps'] > 0 for x in mem)
assert len(agg) == 16, len(agg)
for x in agg:
    assert x['mode'] == 'aggregate' and x['transport'] in ('v4v', 'tcp')
    assert x['pairs'] in (1, 2) and x['size'] in (4096, 16384)
    assert x['mbps'] > 0 and 0 <= x['min_pair_mbps'] <= x['max_pair_mbps']
    assert x['traffic'] in ('stream', 'pingpong')
"

# The report, quick: report.md with the claims table, and the plots.
"$V4V" bench report --quick -q --out "$dir/rep" >"$dir/rep.out" 2>"$dir/rep.err"
rc=$?
check "report exits 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat "$dir/rep.err"
check "report.md written" test -s "$dir/rep/report.md"
for claim in "small-message latency" "1 MiB bandwidth" "aggregate bandwidth against memory"; do
	check "report states: $claim" grep -q "$claim" "$dir/rep/report.md"
done
check "report has the whole aggregate output" grep -q "Memory-bandwidth reference" "$dir/rep/aggregate.txt"
check "report.md includes it" grep -q "Memory-bandwidth reference" "$dir/rep/report.md"
check "report records the command" grep -q "bench report" "$dir/rep/report.md"
check "report records the kernel" grep -q "| kernel |" "$dir/rep/report.md"
for png in bench.png aggregate.png; do
	if command -v gnuplot >/dev/null; then
		check "$png is a PNG" sh -c "head -c 8 '$dir/rep/$png' | od -c | grep -q 'P   N   G'"
	fi
done

# The strict hypervisor's copy engine sleeps once traffic stops, with
# every connection still open: about no CPU over 2 idle seconds.
"$V4V" bench aggregate -q --pairs 1,2 --sizes 4K:4K --seconds 0.05 \
	--warmup 0.02 --transports v4v-strict --modes stream --pin spread \
	--no-memref --idle-seconds 2 >"$dir/idle.out" 2>"$dir/idle.err"
check "strict aggregate exits 0" test $? -eq 0
idle=$(sed -n 's/^v4vd --strict after its runs, idle for 2 s with every connection open: \([0-9.]*\) CPU seconds$/\1/p' "$dir/idle.out")
check "strict idle CPU reported (got '$idle')" test -n "$idle"
check "strict v4vd idle: under 0.1 CPU s in 2 s (got '$idle')" \
	awk -v c="${idle:-9}" 'BEGIN { exit !(c < 0.1) }'

t_done
