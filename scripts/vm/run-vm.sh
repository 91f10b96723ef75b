#!/bin/sh
# scripts/vm/run-vm.sh: boot one guest, run a script in it, power it off.
#
#   sh scripts/vm/run-vm.sh [--socket PATH] [--mem MB] [--timeout S]
#                           [--image DIR] [--qemu-args ARGS] SCRIPT [FILE...]
#
# SCRIPT runs as root in the guest's busybox shell, with our tools in
# /v4v (on PATH) and the FILEs in /test; the guest's console (and so the
# script's output) is this command's standard output, and the last line
# the guest prints is "v4v-vm: exit N", N being SCRIPT's exit status.
# --socket connects the guest's ivshmem-doorbell device to the V4V VM
# socket PATH (v4vd --vm NAME makes DIR/NAME.sock); without it, no
# V4V device.  --image is what scripts/vm/guest-image.sh printed (it is
# run when omitted).  --qemu-args adds QEMU options (split at blanks;
# bench/vm-net.sh gives a guest its NIC so).  QEMU uses KVM when
# /dev/kvm exists, else TCG.
# Exit status: SCRIPT's, or 124 when the guest ran past --timeout
# (default 120 s), or 1 when QEMU itself failed.
set -eu
sock="" mem=256 timeout=120 image="" extra=""
while [ $# -gt 0 ]; do
	case $1 in
	--socket) sock=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--image) image=$2; shift 2 ;;
	--qemu-args) extra=$2; shift 2 ;;
	-h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "run-vm.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || { echo "run-vm.sh: no script (see --help)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null ||
	{ echo "run-vm.sh: qemu-system-x86_64 is missing (apt-get install qemu-system-x86)" >&2; exit 1; }
[ -n "$image" ] || image=$(sh "$(dirname "$0")/guest-image.sh")
work=$(mktemp -d /tmp/v4v-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/test"
cp "$1" "$work/root/test/run.sh"
shift
for f in "$@"; do cp "$f" "$work/root/test/"; done
# The kernel unpacks concatenated archives in order: this one adds /test.
(cd "$work/root" && find test | cpio -o -H newc --quiet) > "$work/test.cpio"
cat "$image/initrd.img" "$work/test.cpio" > "$work/initrd"
# TCG emits a guest's memory barriers and atomic instructions as such
# only when the machine may have more than one CPU: with one, a fence is
# dropped, and the guest's "arm, then look" races v4vd's "publish, then
# look" (lost wake-ups).  maxcpus=2 asks for that without a second vCPU.
accel="tcg,thread=multi" smp="1,maxcpus=2"
[ -w /dev/kvm ] && accel=kvm smp=1
set -- -M pc -accel "$accel" -m "$mem" -smp "$smp" -nographic -no-reboot \
	-nodefaults -serial stdio -display none \
	-kernel "$image/vmlinuz" -initrd "$work/initrd" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 v4v.run=/test/run.sh"
if [ -n "$sock" ]; then
	set -- "$@" -chardev "socket,path=$sock,id=v4v" \
		-device "ivshmem-doorbell,chardev=v4v,vectors=1"
fi
# shellcheck disable=SC2086 # options, split on purpose
set -- "$@" $extra
timeout "$timeout" qemu-system-x86_64 "$@" > "$work/console" 2>&1 || rc=$?
tr -d '\r' < "$work/console"
[ "${rc:-0}" = 124 ] && { echo "run-vm.sh: the guest ran past ${timeout} s" >&2; exit 124; }
st=$(tr -d '\r' < "$work/console" | sed -n 's/^v4v-vm: exit \([0-9]*\)$/\1/p' | tail -n 1)
[ -n "$st" ] || { echo "run-vm.sh: the guest did not finish its script (QEMU status ${rc:-0})" >&2; exit 1; }
exit "$st"
