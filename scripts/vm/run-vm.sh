#!/bin/sh
# scripts/vm/run-vm.sh: boot one guest, run a script in it, power it off.
#
#   sh scripts/vm/run-vm.sh [--socket PATH] [--mem MB] [--timeout S]
#                           [--image DIR] [--qemu-args ARGS] [--no-iommu]
#                           SCRIPT [FILE...]
#
# SCRIPT runs as root in the guest's busybox shell, with our tools in
# /v4v (on PATH) and the FILEs in /test; the guest's console (and so the
# script's output) is this command's standard output, and the last line
# the guest prints is "v4v-vm: exit N", N being SCRIPT's exit status.
# --socket connects the guest's ivshmem-doorbell device to the V4V VM
# socket PATH (v4vd --vm NAME makes DIR/NAME.sock); without it, no
# V4V device.  --image is what scripts/vm/guest-image.sh printed (it is
# run when omitted).  --qemu-args adds QEMU options (split at blanks;
# bench/vm-net.sh gives a guest its NIC so).  The guest is a q35
# machine with a virtual IOMMU (intel-iommu, intel_iommu=on), which
# vfio-pci needs to hand the agent v4vd's interrupts; --no-iommu boots
# the older `pc` machine without one (the agent then polls).  QEMU uses
# KVM when /dev/kvm works (a first boot tells; V4V_VM_ACCEL=kvm|tcg
# decides instead), else TCG.
# Exit status: SCRIPT's, or 124 when the guest ran past --timeout
# (default 120 s), or 1 when QEMU itself failed.
set -eu
sock="" mem=256 timeout=120 image="" extra="" iommu=1
while [ $# -gt 0 ]; do
	case $1 in
	--socket) sock=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--image) image=$2; shift 2 ;;
	--qemu-args) extra=$2; shift 2 ;;
	--no-iommu) iommu=0; shift ;;
	-h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "run-vm.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || { echo "run-vm.sh: no script (see --help)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null ||
	{ echo "run-vm.sh: qemu-system-x86_64 is missing (apt-get install qemu-system-x86)" >&2; exit 1; }
[ -n "$image" ] || image=$(sh "$(dirname "$0")/guest-image.sh")

# KVM when it works: some hosts have /dev/kvm but cannot run a guest with
# it (nested virtualisation without the CPU's help: the guest hangs), so
# a first boot under it decides, and the verdict holds until the host
# reboots.  V4V_VM_ACCEL=kvm or tcg decides instead.
kvm_works() {
	case ${V4V_VM_ACCEL:-} in kvm) return 0 ;; tcg) return 1 ;; esac
	[ -w /dev/kvm ] || return 1
	verdict=/var/cache/v4v-vm/kvm-$(cat /proc/sys/kernel/random/boot_id)
	if [ ! -f "$verdict" ]; then
		timeout 30 qemu-system-x86_64 -M pc -accel kvm -m 128 -nographic \
			-no-reboot -nodefaults -serial stdio -display none \
			-kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
			-append "console=ttyS0 quiet panic=-1" 2>&1 |
			grep -q "v4v-vm: no script" && echo yes > "$verdict" ||
			{ echo no > "$verdict"; echo "run-vm.sh: /dev/kvm does not run guests here: TCG" >&2; }
	fi
	[ "$(cat "$verdict")" = yes ]
}
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
accel="tcg,thread=multi" smp="1,maxcpus=2" machine=pc iommu_dev="" append=""
kvm_works && accel=kvm smp=1
echo "run-vm: accel ${accel%%,*}" >&2
if [ $iommu = 1 ]; then
	# Interrupt remapping under KVM needs the split irqchip.
	machine=q35 append=intel_iommu=on
	[ "$accel" = kvm ] && machine=q35,kernel-irqchip=split
	iommu_dev="-device intel-iommu,intremap=on"
fi
# shellcheck disable=SC2086 # iommu_dev: options, split on purpose
set -- -M "$machine" -accel "$accel" -m "$mem" -smp "$smp" -nographic \
	-no-reboot -nodefaults -serial stdio -display none $iommu_dev \
	-kernel "$image/vmlinuz" -initrd "$work/initrd" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 $append v4v.run=/test/run.sh"
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
