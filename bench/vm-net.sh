#!/bin/sh
# bench/vm-net.sh: the paper's experiment between two real VMs.  Two QEMU
# guests, a and b, on one host; in the same run, b talks to a
#   tcp      over virtio-net, through tap devices on a Linux bridge (the
#            generic path between VMs)
#   v4v      over V4V: the same program under `v4v run` in both guests
#            (v4vd --strict: v4vd copies every byte between the regions)
# with bench/netpp.c (TCP ping-pong, half round trip p50/p99, and a
# 64 MiB stream).  Prints a table with the ratio tcp/v4v.
#
#   sh bench/vm-net.sh [--build DIR] [--sizes "1 64 1024 16384"]
#
# Root, qemu-system-x86, busybox-static, ip (bridge, tuntap).  Under TCG
# (no /dev/kvm) both paths run emulated: the figures compare them with
# each other, they are not what KVM guests get.  The guests learn of
# V4V messages through v4v-guestd, woken by MSI-X interrupts.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build sizes="1 64 1024 16384"
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--sizes) sizes=$2; shift 2 ;;
	-h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "vm-net.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "vm-net.sh: run as root (bridge, taps)" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null ||
	{ echo "vm-net.sh: qemu-system-x86_64 is missing" >&2; exit 1; }

work=$(mktemp -d /tmp/v4v-vmnet.XXXXXX)
tag=$$ br=v4vbr$$ ta=v4vta$$ tb=v4vtb$$ net=10.79.$(($$ % 250))
hv=""
cleanup() {
	pkill -9 -f "$work/" 2>/dev/null || true
	[ -n "$hv" ] && kill "$hv" 2>/dev/null
	ip link del "$ta" 2>/dev/null; ip link del "$tb" 2>/dev/null
	ip link del "$br" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# ---- the guest: our build, netpp, and virtio-net's modules ----
cc -std=gnu11 -O2 -o "$work/netpp" "$here/bench/netpp.c"
image=$(sh "$here/scripts/vm/guest-image.sh" --build "$build")
abi=$(cat /var/cache/v4v-vm/kernel-abi)
mods=/var/cache/v4v-vm/modules
order="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"
if [ ! -s "$mods/virtio_net.ko" ]; then
	mkdir -p "$mods" "$work/deb"
	(cd "$work/deb" && apt-get download -q "$abi" >/dev/null 2>&1) ||
		{ echo "vm-net.sh: apt-get download $abi failed" >&2; exit 1; }
	dpkg-deb --fsys-tarfile "$work"/deb/*.deb | tar -x -C "$work/deb" \
		--wildcards './lib/modules/*/kernel/drivers/virtio/*.ko' \
		'./lib/modules/*/kernel/drivers/net/*failover.ko' \
		'./lib/modules/*/kernel/drivers/net/virtio_net.ko' \
		'./lib/modules/*/kernel/net/core/failover.ko'
	for m in $order; do find "$work/deb" -name "$m.ko" -exec cp {} "$mods/" \; ; done
fi
files="$work/netpp"
for m in $order; do files="$files $mods/$m.ko"; done

# ---- the host: v4vd with two VMs, a bridge with two taps ----
export V4V_SOCKET="$work/ctl.sock"
"$build/src/hv/v4vd" --foreground --strict --vm a --vm b --vm-dir "$work/vm" \
	--socket "$V4V_SOCKET" 2>"$work/v4vd.log" &
hv=$!
for _ in $(seq 100); do "$build/src/tools/v4v" status >/dev/null 2>&1 && break; sleep 0.05; done
ip link add "$br" type bridge
for t in "$ta" "$tb"; do
	ip tuntap add "$t" mode tap
	ip link set "$t" master "$br"
	ip link set "$t" up
done
ip link set "$br" up

# Spinning in the guests (docs/cli.md; none by default in a guest): the
# host's settings, if any, go to both guests' `v4v run`.
poll_env=""
for v in V4V_POLL_US V4V_BUSY_POLL_US; do
	eval "val=\${$v:-}"
	[ -n "$val" ] && poll_env="$poll_env export $v=$val;"
done
guest_prelude=$poll_env'cd /test; for m in '"$order"'; do insmod ./$m.ko || echo "insmod $m failed"; done
ip link set lo up; ip link set eth0 up
v4v-guestd 2>/tmp/agent.log &
while [ ! -S /run/v4v/v4vd.sock ]; do sleep 0.1; done'
cat > "$work/a.sh" <<EOF
$guest_prelude
ip addr add $net.1/24 dev eth0
/test/netpp server 5001 &
v4v run -- /test/netpp server 5002 &
wait
EOF
cat > "$work/b.sh" <<EOF
$guest_prelude
ip addr add $net.2/24 dev eth0
n=0; until /test/netpp probe $net.1 5001 && v4v run -- /test/netpp probe $net.1 5002; do
	n=\$((n + 1)); [ \$n -lt 300 ] || { echo "a never answered"; break; }; sleep 0.2
done
/test/netpp client $net.1 5001 $sizes | sed 's/^/tcp /'
v4v run -- /test/netpp client $net.1 5002 $sizes | sed 's/^/v4v /'
/test/netpp quit $net.1 5001; v4v run -- /test/netpp quit $net.1 5002
EOF
# Each guest gets its V4V device and its tap (virtio-net, no vhost under TCG).
boot() { # NAME TAP MAC
	sh "$here/scripts/vm/run-vm.sh" --image "$image" --timeout 600 \
		--socket "$work/vm/$1.sock" \
		--qemu-args "-netdev tap,id=n0,ifname=$2,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=$3" \
		"$work/$1.sh" $files > "$work/$1.out" 2>&1
}
echo "vm-net: booting two guests (TCG boots take a few seconds each)..." >&2
boot a "$ta" 52:54:00:79:00:01 &
apid=$!
boot b "$tb" 52:54:00:79:00:02 || true
# b is done (it told a's servers to quit): a goes now whatever it does.
pkill -f -- "$work/vm/a.sock" 2>/dev/null || true
wait "$apid" || true
out=$(tr -d '\r' < "$work/b.out")
echo "$out" | grep -q '^tcp stream' && echo "$out" | grep -q '^v4v stream' || {
	echo "vm-net.sh: the exchange failed; guest b said:" >&2
	echo "$out" | tail -n 30 >&2
	tr -d '\r' < "$work/a.out" | tail -n 10 >&2
	exit 1
}
# The V4V half really crossed v4vd: a received at least the stream.
v4v_bytes=$("$build/src/tools/v4v" status --json | python3 -c "
import json, sys
print([d['stream_bytes'] for d in json.load(sys.stdin)['domains'] if d['name'] == 'a'][0])")
[ "$v4v_bytes" -ge $((64 << 20)) ] || {
	echo "vm-net.sh: v4vd carried only $v4v_bytes bytes to a: the v4v run went elsewhere" >&2
	exit 1
}
accel=$(tr -d '\r' < "$work/b.out" | sed -n 's/^run-vm: accel \(.*\)$/\1/p' | head -n 1)
echo "$out" | awk -v accel="$accel" '
$2 == "pingpong" { p50[$1, $3] = $4; p99[$1, $3] = $5; if (!seen[$3]++) s[++n] = $3 }
$2 == "stream" { bw[$1] = $4 }
END {
	printf "guest b to guest a, %s, same run (half round trip, microseconds)\n", accel
	printf "%-8s %12s %12s %12s %12s %8s\n", "size", "tcp p50", "tcp p99", "v4v p50", "v4v p99", "tcp/v4v"
	for (i = 1; i <= n; i++) {
		z = s[i]
		printf "%-8s %12.1f %12.1f %12.1f %12.1f %8.2f\n", z, p50["tcp", z], p99["tcp", z], p50["v4v", z], p99["v4v", z], p50["tcp", z] / p50["v4v", z]
	}
	printf "stream 64 MiB in 64 KiB writes: tcp %d MB/s, v4v %d MB/s, v4v/tcp %.3f\n", bw["tcp"], bw["v4v"], bw["v4v"] / bw["tcp"]
}'
echo "v4vd carried $v4v_bytes stream bytes into guest a (v4v status)"
# The issue's third column, AF_VSOCK guest to host, needs vhost-vsock on
# the host; say why it is missing rather than leave it out silently.
if [ -e /dev/vhost-vsock ]; then
	echo "AF_VSOCK: not measured (vm-net.sh has no vsock run yet)"
else
	echo "AF_VSOCK: not measured (this host has no /dev/vhost-vsock)"
fi
