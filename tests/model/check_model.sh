#!/bin/sh
# SPDX-License-Identifier: MIT
# Model-check the doorbell protocol (wakeup.pml) with spin: the model as
# written must pass every check, and each deliberately broken variant
# must be caught by the checks expected to catch it.  Exit 0 pass, 1 fail,
# 77 skip (no spin).
#
#   check_model.sh MODEL.pml        ($CC compiles pan; default cc)
set -u
model=${1:?usage: check_model.sh MODEL.pml}
command -v spin >/dev/null 2>&1 || { echo "spin not installed: skipped"; exit 77; }
cc=${CC:-cc}
work=$(mktemp -d /tmp/v4vmodel.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
cp "$model" "$work/model.pml" || exit 1
cd "$work" || exit 1

failed=0

# run PAN-COMMAND...: run a verifier and print its verdict: "ok" (searched
# everything, no error), "error" (a violation; the first one goes to
# stderr) or "broken" (did not finish: search depth too small, ...).
run() {
	out=$("$@" 2>&1)
	if echo "$out" | grep -q "max search depth too small"; then
		echo "broken"
	elif echo "$out" | grep -q "errors: 0$"; then
		echo "ok"
	elif echo "$out" | grep -q "errors: [1-9]"; then
		echo "$out" | grep -E "violated|invalid end state" | head -1 >&2
		echo "error"
	else
		echo "$out" | tail -5 >&2
		echo "broken"
	fi
}

# check NAME "SPIN-DEFINES" EXPECT-DEADLOCK EXPECT-RX EXPECT-TX EXPECT-STALE
check() {
	variant=$1
	def=$2
	shift 2
	rm -f pan pan_nc pan.* ./*.trail
	# shellcheck disable=SC2086
	if ! spin $def -a model.pml >spin.log 2>&1 ||
	    ! "$cc" -O0 -w -o pan pan.c ||
	    ! "$cc" -O0 -w -DNOCLAIM -o pan_nc pan.c; then
		cat spin.log
		echo "FAIL $variant: spin or the compiler failed"
		failed=1
		return
	fi
	dl=$(run ./pan_nc)
	rx=$(run ./pan -a -N no_lost_rx)
	tx=$(run ./pan -a -N no_lost_tx)
	st=$(run ./pan -a -N no_stale)
	verdict="deadlock/assert: $dl, no_lost_rx: $rx, no_lost_tx: $tx, no_stale: $st"
	if [ "$dl $rx $tx $st" = "$1 $2 $3 $4" ]; then
		echo "ok   $variant ($verdict)"
	else
		echo "FAIL $variant ($verdict; expected $1, $2, $3, $4)"
		failed=1
	fi
}

echo "spin: $(spin -V)"
# The protocol as written, with the default ring and a few others.
check correct "" ok ok ok ok
check correct-N1 "-DN=1 -DM=4" ok ok ok ok
check correct-N3 "-DN=3 -DM=8" ok ok ok ok
# Producer publishes tx without the fence: it can miss ARMED while the
# consumer misses the new tx (store buffering).
check NO_FENCE -DNO_FENCE error error ok ok
# Consumer sleeps right after arming, without re-reading tx.
check NO_RECHECK -DNO_RECHECK error error ok ok
# Consumer publishes rx without the fence before reading TX_WAITING.
check NO_CONS_FENCE -DNO_CONS_FENCE error ok error ok
# Producer sleeps right after TX_WAITING, without re-reading rx.
check NO_SPACE_RECHECK -DNO_SPACE_RECHECK error ok error ok
# Consumer does not look at FIN after arming: the end-of-file token can
# be drained by the rearm that missed FIN.
check NO_FIN_RECHECK -DNO_FIN_RECHECK error error ok ok
# Leave sleeps on an arm at an older position: the producer of a message
# it already took rings for nothing.
check NO_ARM_MOVE -DNO_ARM_MOVE ok ok ok error
# Rearm arms although a producer took ARMED after the drain.
check NO_REARM_CHECK -DNO_REARM_CHECK ok ok ok error
exit $failed
