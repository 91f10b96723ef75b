#!/bin/sh
# bench/rgpu-vms.sh: the paper's rCUDA experiment as the paper ran it, a
# client "VM" without a GPU and a GPU server "VM": rgpu-bench in one
# network namespace, rgpu-server in another, joined by veth pairs and a
# bridge (the generic path).  TCP goes through that network; V4V through
# the hypervisor.  Extra arguments go to rgpu-bench (--sizes, --reps,
# --json FILE, --plot FILE.png, ...).
#
#   sh bench/rgpu-vms.sh [RGPU-BENCH OPTION]...
#
# Needs root, a running v4vd (scripts/hv-ensure.sh) and the build in
# ./build.  (rgpu-bench alone compares V4V with TCP loopback, inside one
# namespace: see docs/rgpu.md.)
set -u
cd "$(dirname "$0")/.."
case ${1:-} in -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
B=${BUILD:-build}
"$B/src/tools/v4v" status >/dev/null 2>&1 ||
	{ echo "bench/rgpu-vms.sh: v4vd is not running (sh scripts/hv-ensure.sh)" >&2; exit 3; }
. bench/vmnet.sh
srv=""
cleanup() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null
	wait 2>/dev/null
	vmnet_down v4vrgpu
}
trap cleanup EXIT INT TERM
vmnet_up v4vrgpu 169.254.79 || { echo "bench/rgpu-vms.sh: cannot make the namespaces" >&2; exit 1; }
ip netns exec v4vrgpu-b "$B/src/rgpu/rgpu-server" --name rgpu-vm \
	--tcp 169.254.79.2:7100 --v4v 7100 2>/tmp/rgpu-vms-server.log &
srv=$!
for _ in $(seq 100); do
	ip netns exec v4vrgpu-b ss -ltn "sport = :7100" | grep -q LISTEN && break
	sleep 0.05
done
echo "server: $(head -2 /tmp/rgpu-vms-server.log | tr '\n' ' ')" >&2
ip netns exec v4vrgpu-a "$B/src/rgpu/rgpu-bench" --transports v4v,tcp \
	--v4v-server rgpu-vm:7100 --tcp-server 169.254.79.2:7100 "$@"
