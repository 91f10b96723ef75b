#!/bin/sh
# Run every test of V4VSockets: the unit and integration suites in a plain
# build and again under AddressSanitizer + UndefinedBehaviorSanitizer, and
# the libFuzzer fuzzers for a bounded time.  The last line is the summary
# "N passed, N failed, N skipped".
#
#   V4V_FUZZ_SECONDS   time per fuzzer (default 20)
#   V4V_SKIP_ASAN=1    skip the sanitizer pass (faster local runs)
# The Promela model of the wakeup protocol is checked with spin (suite model).
# ThreadSanitizer covers v4vd's copy threads only (tests/integ/
# tsan_engine.sh): it does not model the standalone fences the ring's
# doorbell protocol between processes rests on (gcc refuses
# atomic_thread_fence under -fsanitize=thread), so that protocol is
# model-checked instead.
set -u
cd "$(dirname "$0")/.."
sh scripts/deps.sh || exit 1
# Sanitizer findings fail the test that triggered them.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
logs=""

suite() { # NAME BUILDDIR MESON-ARGS...
	name=$1 dir=$2
	shift 2
	echo "== $name =="
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null || { echo "$name: setup failed"; return; }
	fi
	if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
		cat "$dir.build.log"
		echo "BUILD FAILED" >"$dir.failed"
		logs="$logs $dir.failed"
		return
	fi
	meson test -C "$dir" --print-errorlogs --num-processes 1 \
		--logbase "$LOGBASE" $SUITES
	logs="$logs $dir/meson-logs/$LOGBASE.json"
}

SUITES="--suite unit --suite integ --suite model"
LOGBASE=testlog
rm -f build*.failed
suite "tests" build
# Programs and test suites nobody here wrote, plainly and under v4v run,
# compared (CPython's test_socket, PostgreSQL): a suite of its own, so
# that its time shows.
SUITES="--suite conformance"
LOGBASE=conformance
suite "conformance (CPython's socket, TLS, HTTP, mail and asyncio tests; PostgreSQL)" build
SUITES="--suite unit --suite integ --suite model"
LOGBASE=testlog
if [ "${V4V_SKIP_ASAN:-0}" != 1 ]; then
	# Real VMs boot once, in the plain build: under ASan they add minutes
	# and little (the VM link's parsing is fuzzed under ASan).
	SUITES="--suite unit --suite integ --suite model --no-suite vm"
	suite "tests under ASan+UBSan" build-asan \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug
	SUITES="--suite unit --suite integ --suite model"
fi
# A packager's first steps: a release build, with no warnings (-Werror),
# installed into a staging directory, and a program built against it
# with pkg-config.
echo "== release build, install, pkg-config =="
rm -f build-release.ok
if [ ! -f build-release/build.ninja ]; then
	meson setup build-release -Dbuildtype=release >/dev/null
fi
if ninja -C build-release >build-release.build.log 2>&1 &&
   sh tests/install/check.sh build-release >>build-release.build.log 2>&1; then
	tail -1 build-release.build.log
	echo ok >build-release.ok
	logs="$logs build-release.ok"
else
	grep -E "error|warning|libv4v" build-release.build.log | head -20
	echo "BUILD FAILED" >build-release.failed
	logs="$logs build-release.failed"
fi
echo "== v4vd copy threads under ThreadSanitizer =="
rm -f build-tsan.ok
if [ ! -f build-tsan/build.ninja ]; then
	CC=clang meson setup build-tsan -Db_sanitize=thread -Db_lundef=false \
		>/dev/null
fi
if ninja -C build-tsan src/hv/v4vd >build-tsan.build.log 2>&1 &&
   sh tests/integ/tsan_engine.sh build-tsan/src/hv/v4vd build; then
	echo ok >build-tsan.ok
	logs="$logs build-tsan.ok"
else
	echo "TSAN FAILED" >build-tsan.failed
	logs="$logs build-tsan.failed"
fi
SUITES="--suite fuzz"
CC=clang suite "fuzzers (${V4V_FUZZ_SECONDS:-20} s each)" build-fuzz \
	-Dfuzz=true -Db_lundef=false

python3 - $logs <<'PY'
import json, sys
ok = fail = skip = 0
for path in sys.argv[1:]:
    if path.endswith(".failed"):
        fail += 1
        continue
    if path.endswith(".ok"):
        ok += 1
        continue
    try:
        lines = open(path).read().splitlines()
    except OSError:
        fail += 1
        continue
    for line in lines:
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif r == "SKIP":
            skip += 1
        else:
            fail += 1
print(f"{ok} passed, {fail} failed" + (f", {skip} skipped" if skip else ""))
sys.exit(1 if fail else 0)
PY
