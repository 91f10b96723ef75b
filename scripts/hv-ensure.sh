#!/bin/sh
# Start an embedded v4vd unless one already answers on $V4V_SOCKET (or the
# default path).  Logs go to /tmp/v4vd.log.  Prints what it did.
set -eu
cd "$(dirname "$0")/.."
sock=${V4V_SOCKET:-/run/v4v/v4vd.sock}
if ./build/src/tools/v4v status >/dev/null 2>&1; then
	echo "v4vd: already running on $sock"
	exit 0
fi
./build/src/hv/v4vd --foreground --socket "$sock" 2>>/tmp/v4vd.log &
for _ in $(seq 100); do
	./build/src/tools/v4v status >/dev/null 2>&1 && {
		echo "v4vd: started on $sock (pid $!, log /tmp/v4vd.log)"
		exit 0
	}
	sleep 0.05
done
echo "v4vd: failed to start; see /tmp/v4vd.log" >&2
exit 1
