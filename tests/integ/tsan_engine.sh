#!/bin/sh
# SPDX-License-Identifier: MIT
# v4vd's copy threads under ThreadSanitizer: the strict suites whose
# traffic goes through the engine, against a v4vd built with
# -fsanitize=thread and running two copy threads.  Any report fails.
# (Only v4vd is instrumented: the domains are processes, and the ring
# protocol between them rests on fences TSan does not model; see
# tests/model.  Not integ_fairness: it times, and TSan slows v4vd.)
#
#   tsan_engine.sh TSAN_V4VD PLAIN_BUILD_DIR
set -u
v4vd=${1:?usage: tsan_engine.sh TSAN_V4VD BUILD_DIR}
build=${2:?usage: tsan_engine.sh TSAN_V4VD BUILD_DIR}
out=$(mktemp -d /tmp/v4vtsan.XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT
export V4VD="$v4vd" V4V="$build/src/tools/v4v"
export V4V_TEST_STRICT=1 V4V_TEST_COPY_THREADS=2
export TSAN_OPTIONS="log_path=$out/tsan halt_on_error=0"
failed=0
for t in stream dgram kill readiness restart hostile; do
	if ! timeout 600 "$build/tests/integ/integ_$t" >"$out/$t.log" 2>&1; then
		echo "tsan_engine: integ_$t failed against the TSan v4vd:"
		tail -20 "$out/$t.log"
		failed=1
	fi
done
reports=$(cat "$out"/tsan.* 2>/dev/null | grep -c "WARNING: ThreadSanitizer")
if [ "$reports" -gt 0 ]; then
	echo "tsan_engine: $reports ThreadSanitizer reports; the first:"
	cat "$out"/tsan.* | sed -n '/WARNING: ThreadSanitizer/,/^$/p' | head -60
	failed=1
fi
[ $failed = 0 ] && echo "tsan_engine: 6 strict suites, 2 copy threads, no reports"
exit $failed
