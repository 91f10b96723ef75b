#!/bin/sh
# scripts/vm/demo.sh: two QEMU guests as V4V domains, on a v4vd of their
# own.  Boots guest g1, which receives datagrams with `v4v cat`, and
# guest g2, which sends it one; the host sends it another.  The guests
# run v4v-guestd and the unmodified v4v tool; every datagram is copied
# by v4vd from one VM's region into the other's.  Needs root, the build
# (sh scripts/build.sh) and qemu-system-x86 and busybox-static
# (sh scripts/deps.sh).  Takes about 15 s under TCG.
set -eu
cd "$(dirname "$0")/../.."
for f in build/src/hv/v4vd build/src/tools/v4v build/src/vm/v4v-guestd; do
	[ -x "$f" ] || { echo "demo: $f is missing: sh scripts/build.sh" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null && [ -x /bin/busybox ] ||
	{ echo "demo: needs qemu-system-x86 and busybox-static: sh scripts/deps.sh" >&2; exit 1; }
dir=$(mktemp -d /tmp/v4v-vmdemo.XXXXXX)
export V4V_SOCKET="$dir/ctl.sock"
build/src/hv/v4vd -f --socket "$V4V_SOCKET" --vm g1 --vm g2 --vm-dir "$dir/vm" \
	2> "$dir/v4vd.log" &
hv=$!
trap 'kill $hv 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do build/src/tools/v4v status >/dev/null 2>&1 && break; sleep 0.05; done
echo "demo: building the guest image (the first time downloads Debian's kernel)"
image=$(sh scripts/vm/guest-image.sh)
cat > "$dir/g1.sh" <<'G1'
v4v-guestd 2>/tmp/agent.log &
while [ ! -S /run/v4v/v4vd.sock ]; do sleep 0.1; done
echo "g1: waiting for two datagrams on port 7000"
v4v cat -u -l 7000 -c 2 -v
G1
cat > "$dir/g2.sh" <<'G2'
v4v-guestd 2>/tmp/agent.log &
while [ ! -S /run/v4v/v4vd.sock ]; do sleep 0.1; done
for i in $(seq 100); do
	echo "hello from g2" | v4v cat -u g1:7000 2>/dev/null && break
	sleep 0.2
done
echo "g2: sent"
G2
echo "demo: booting g1 and g2"
sh scripts/vm/run-vm.sh --image "$image" --socket "$dir/vm/g1.sock" "$dir/g1.sh" > "$dir/g1.out" 2>&1 &
g1=$!
sh scripts/vm/run-vm.sh --image "$image" --socket "$dir/vm/g2.sock" "$dir/g2.sh" > "$dir/g2.out" 2>&1 &
g2=$!
wait $g2 || true
for _ in $(seq 100); do
	echo "hello from the host" | build/src/tools/v4v cat -u g1:7000 2>/dev/null && break
	sleep 0.2
done
rc=0
wait $g1 || rc=$?
echo "---- g1's console ----"
grep -a -E "^(g1|hello|v4v cat|v4v-vm)" "$dir/g1.out" || true
grep -a "^g2" "$dir/g2.out" || true
echo "---- v4v status ----"
build/src/tools/v4v status | sed -n '/^DOMID/,/^$/p'
exit $rc
