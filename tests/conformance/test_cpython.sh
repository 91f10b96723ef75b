#!/bin/sh
# test_cpython.sh [--strict] [ARG...]: CPython's socket test suite, plainly
# and under `v4v run`, against a private v4vd (v4vd --strict with
# --strict); ARGs go to cpython.py.  Exit 77 (skipped) if the test suite
# (Debian's libpython3.11-testsuite) is not installed.
set -u
: "${V4VD:?}" "${V4V:?}" "${V4V_PRELOAD_LIB:?}"
py=/usr/bin/python3.11
if [ ! -x "$py" ] || [ ! -f /usr/lib/python3.11/test/test_socket.py ]; then
	echo "SKIP: $py or its test suite (libpython3.11-testsuite) is not installed"
	exit 77
fi
. "$(dirname "$0")/../lib.sh"
t_setup v4vconf
trap 'exit 143' TERM INT HUP # and so clean up (the EXIT trap)
drv=""
cleanup() {
	[ -n "$drv" ] && kill "$drv" 2>/dev/null # it takes its test processes along
	[ -n "$hv" ] && kill "$hv" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$dir"
}
strict=""
[ "${1:-}" = --strict ] && { strict=--strict; shift; }
# shellcheck disable=SC2086
start_v4vd $strict || { echo "FAIL v4vd did not start"; cat "$dir/v4vd.log"; exit 1; }
# In the background, so that a signal to this shell is taken at once.
/usr/bin/python3 "$(dirname "$0")/cpython.py" --python "$py" "$@" &
drv=$!
wait "$drv"
rc=$?
drv=""
exit "$rc"
