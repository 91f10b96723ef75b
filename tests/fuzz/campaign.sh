#!/bin/sh
# SPDX-License-Identifier: MIT
# A fuzzing campaign: every fuzzer at once, each in libFuzzer's fork mode
# with JOBS workers for SECONDS, starting from the committed corpus.
#
#   sh tests/fuzz/campaign.sh BIN_DIR CORPUS_DIR SECONDS JOBS OUT_DIR
#
# BIN_DIR holds the fuzzer executables (build-fuzz/tests/fuzz), CORPUS_DIR
# the committed corpora (tests/fuzz/corpus).  OUT_DIR gets, per fuzzer,
# NAME/ (the inputs it found), NAME.log, NAME-crash-* reproducers, and
# summary.txt: CPU seconds, executions, coverage, crashes.  Crashes do not
# stop a campaign; each is kept and counted.  To fold what it found into
# the committed corpus, minimised:
#
#   FUZZER -merge=1 tests/fuzz/corpus/NAME OUT_DIR/NAME
set -eu

bin=$1 seeds=$2 secs=$3 jobs=$4 out=$5
mkdir -p "$out"
names=""
for f in "$bin"/fuzz_*; do
	[ -f "$f" ] && [ -x "$f" ] && names="$names ${f##*/}"
done
[ -n "$names" ] || { echo "campaign: no fuzz_* executables in $bin" >&2; exit 2; }

for n in $names; do
	mkdir -p "$out/$n"
	set -- "$out/$n"
	[ -d "$seeds/$n" ] && set -- "$out/$n" "$seeds/$n"
	# `times` in the subshell: the CPU its children used, workers
	# included (each fuzzer waits for its workers).
	(
		"$bin/$n" -fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 \
			-ignore_ooms=1 -max_total_time="$secs" \
			-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
			"-artifact_prefix=$out/$n-crash-" \
			"$@" >"$out/$n.log" 2>&1 || true
		times >"$out/$n.times"
	) &
done
wait

{
	printf '%-14s %8s %6s %12s %6s %6s %7s\n' fuzzer cpu_s jobs execs cov ft crashes
	for n in $names; do
		last=$(grep -E '^#[0-9]+' "$out/$n.log" | tail -1)
		execs=$(echo "$last" | sed -nE 's/^#([0-9]+).*/\1/p')
		cov=$(echo "$last" | sed -nE 's/.*cov: ([0-9]+).*/\1/p')
		ft=$(echo "$last" | sed -nE 's/.*ft: ([0-9]+).*/\1/p')
		crashes=$(ls "$out" | grep -c "^$n-crash-" || true)
		cpu=$(tail -1 "$out/$n.times" | awk '{
			s = 0
			for (i = 1; i <= 2; i++) {
				split($i, t, /[ms]/); s += t[1] * 60 + t[2]
			}
			printf "%d", s }')
		printf '%-14s %8s %6s %12s %6s %6s %7s\n' "$n" \
			"$cpu" "$jobs" "${execs:-?}" "${cov:-?}" \
			"${ft:-?}" "$crashes"
	done
} | tee "$out/summary.txt"
