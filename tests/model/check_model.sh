#!/bin/sh
# SPDX-License-Identifier: MIT
# Model-check a Promela model of one of the wake-up protocols with spin
# (wakeup.pml: the doorbells; engine.pml: the copy engine): the model as
# written must pass every check, and each deliberately broken variant
# must be caught by the checks expected to catch it.  Exit 0 pass, 1
# fail, 77 skip (no spin).
#
#   check_model.sh MODEL.pml        ($CC compiles pan; default cc)
#
# The model says what to check.  Its claims are its `ltl NAME` lines, and
# each variant is a comment line of its own
#
#    * check: NAME DEFINES VERDICT...
#
# DEFINES are spin's -D options, comma-separated ("-" for none); the
# verdicts ("ok" or "error", or "-": not checked, to save the time of a
# search that shows nothing new) are expected first from pan without a
# claim (assertions and invalid end states: deadlock), then from each
# claim in the order of the ltl lines.
set -u
model=${1:?usage: check_model.sh MODEL.pml}
command -v spin >/dev/null 2>&1 || { echo "spin not installed: skipped"; exit 77; }
cc=${CC:-cc}
claims=$(sed -n 's/^ltl[ 	]\{1,\}\([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' \
    "$model")
nclaims=$(echo "$claims" | wc -w)
checks=$(sed -n 's/^ \* check: //p' "$model")
if [ -z "$checks" ]; then
	echo "FAIL $model: no \" * check:\" lines"
	exit 1
fi
work=$(mktemp -d /tmp/v4vmodel.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
cp "$model" "$work/model.pml" || exit 1
cd "$work" || exit 1

failed=0

# run EXPECT PAN-COMMAND...: run a verifier (unless EXPECT is "-") and
# print its verdict: "ok" (searched everything, no error), "error" (a
# violation; the first one goes to stderr) or "broken" (did not finish:
# search depth too small, ...).  A hash table of 2^20 slots holds the
# models' million states or so without a chain worth the name, and costs
# a sixteenth of pan's default.
run() {
	if [ "$1" = "-" ]; then
		echo "-"
		return
	fi
	shift
	out=$("$@" -w20 2>&1)
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

# check NAME DEFINES EXPECT...
check() {
	variant=$1
	def=$(echo "$2" | tr , ' ')
	[ "$def" = "-" ] && def=
	shift 2
	expect=$*
	rm -f pan pan_nc pan.* ./*.trail
	if [ $# != $((1 + nclaims)) ]; then
		echo "FAIL $variant: $# verdicts, for $((1 + nclaims)) runs"
		failed=1
		return
	fi
	# shellcheck disable=SC2086
	if ! spin $def -a model.pml >spin.log 2>&1; then
		cat spin.log
		echo "FAIL $variant: spin failed"
		failed=1
		return
	fi
	# The two verifiers compile side by side: that is most of a small
	# check's time.
	"$cc" -O0 -w -o pan pan.c &
	ccpid=$!
	cc_ok=1
	"$cc" -O0 -w -DNOCLAIM -o pan_nc pan.c || cc_ok=0
	wait $ccpid || cc_ok=0
	if [ $cc_ok = 0 ]; then
		echo "FAIL $variant: the compiler failed"
		failed=1
		return
	fi
	got=$(run "$1" ./pan_nc)
	verdict="deadlock/assert: $got"
	shift
	for c in $claims; do
		v=$(run "$1" ./pan -a -N "$c")
		shift
		got="$got $v"
		verdict="$verdict, $c: $v"
	done
	if [ "$got" = "$expect" ]; then
		echo "ok   $variant ($verdict)"
	else
		echo "FAIL $variant ($verdict; expected $expect)"
		failed=1
	fi
}

echo "spin: $(spin -V)"
while read -r line; do
	# shellcheck disable=SC2086
	check $line </dev/null
done <<EOF
$checks
EOF
exit $failed
