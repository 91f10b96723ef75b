#!/bin/sh
# The figures issues 14 and 16 ask of a machine with 8 or more cores, in
# one prepared run that fits a short loan of such a machine (about six
# minutes on 16 cores): stream ping-pong and bandwidth over V4V direct
# and strict, AF_UNIX and TCP; the aggregate of 1 to 16 pairs at 64 KiB
# with the copy engine at its default (a quarter of the cores) and with 8
# copy threads, and v4vd's idle CPU after it; datagram ping-pong.
#
#   sh bench/multicore.sh [BUILD_DIR] [OUT_DIR]
#
# BUILD_DIR (default build) holds binaries built elsewhere: the machine
# needs no compiler, carry the folder there.  OUT_DIR (default $OUT, else
# out/multicore) gets at most seven files (a loan brings back eight):
# machine.txt, bench.txt and .json, aggregate.txt and .json,
# aggregate-ct8.txt, dgram.txt.  Starts its own v4vd on a private socket
# (the strict runs start theirs).  The generic path needs `ip`, which
# such machines may lack, so it is left out.  Each step has its own time
# limit; one that fails or times out says so in its file and the next
# runs.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-${OUT:-out/multicore}}
case $build in /*) ;; *) build=$PWD/$build ;; esac
mkdir -p "$out"
v4v=$build/src/tools/v4v
tmp=$(mktemp -d /tmp/v4vmc.XXXXXX)
sock=$tmp/v4vd.sock
"$build/src/hv/v4vd" --foreground --socket "$sock" 2>"$tmp/v4vd.log" &
hv=$!
trap 'kill $hv 2>/dev/null; wait $hv 2>/dev/null; rm -rf "$tmp"' EXIT
export V4V_SOCKET="$sock" V4VD="$build/src/hv/v4vd"
for _ in $(seq 100); do
	"$v4v" status >/dev/null 2>&1 && break
	sleep 0.05
done
"$v4v" status >/dev/null 2>&1 || {
	echo "bench/multicore.sh: v4vd did not start:" >&2
	cat "$tmp/v4vd.log" >&2
	exit 1
}
{
	echo "cores: $(nproc)"
	grep -m1 'model name' /proc/cpuinfo
	uname -sr
	date -u
} >"$out/machine.txt"

step() { # NAME LIMIT_S FILE CMD...
	name=$1 limit=$2 file=$3
	shift 3
	echo "== $name: $*" >>"$file"
	t0=$(date +%s)
	timeout "$limit" "$@" >>"$file" 2>&1
	rc=$?
	echo "== $name: exit $rc after $(( $(date +%s) - t0 )) s" >>"$file"
	echo "$name: exit $rc" >>"$out/machine.txt"
}

step bench 150 "$out/bench.txt" "$v4v" bench -q --sizes 1:1M \
	--transports v4v,v4v-strict,unix,tcp --json "$out/bench.json"
step aggregate 120 "$out/aggregate.txt" "$v4v" bench aggregate -q \
	--pairs 1,2,4,8,16 --sizes 64K:64K --modes stream \
	--transports v4v,v4v-strict,unix,tcp --idle-seconds 10 \
	--json "$out/aggregate.json"
# The strict runs start "$V4VD --strict": a wrapper adds the threads.
printf '#!/bin/sh\nexec "%s" --copy-threads 8 "$@"\n' \
	"$build/src/hv/v4vd" >"$tmp/v4vd-ct8"
chmod +x "$tmp/v4vd-ct8"
V4VD=$tmp/v4vd-ct8
step aggregate-ct8 90 "$out/aggregate-ct8.txt" \
	"$v4v" bench aggregate -q --pairs 1,4,16 --sizes 64K:64K \
	--modes stream --transports v4v-strict --idle-seconds 0 --no-memref
V4VD=$build/src/hv/v4vd
step dgram 60 "$out/dgram.txt" "$v4v" bench dgram -q --sizes 1:4096
