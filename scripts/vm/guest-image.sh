#!/bin/sh
# scripts/vm/guest-image.sh: the guest V4V's VM tests and demos boot.
#
#   sh scripts/vm/guest-image.sh [--cache DIR] [--build DIR] [PROGRAM...]
#
# Prints the directory that holds `vmlinuz` and `initrd.img` (BUILD/vm).
# The kernel is Debian's own (linux-image-amd64's current ABI), downloaded
# with `apt-get download` and unpacked without installing it on the host;
# it is kept in the cache (default /var/cache/v4v-vm) and fetched only
# once, with vfio's modules (the agent's interrupts, loaded by /init).
# The initramfs, one per build directory, is rebuilt when anything in it
# is newer than it or the PROGRAMs named differ: busybox (busybox-static)
# for the shell, the modules, the build's guest agent and tools (the v4v
# CLI, libv4v, the interposer, the VM tests' probe), every PROGRAM named,
# and the shared libraries all of them load (found with ldd, so dynamic
# programs and `v4v run` work in the guest).  /init mounts /proc, /sys
# and /dev, runs the script the kernel command line names (v4v.run=PATH,
# a file appended to the initramfs by scripts/vm/run-vm.sh) and powers
# off.
set -eu
cache=/var/cache/v4v-vm build=$PWD/build
while [ $# -gt 0 ]; do
	case $1 in
	--cache) cache=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	-h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "guest-image.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
die() { echo "guest-image.sh: $*" >&2; exit 1; }
[ -x /bin/busybox ] || die "busybox-static is not installed (apt-get install busybox-static)"
mkdir -p "$cache"

# ---- the kernel and vfio's modules, once ----
# vfio-pci is how the agent gets v4vd's interrupts (MSI-X) in the guest;
# Debian builds it as modules, loaded by /init in this order.
vfio_mods="irqbypass vfio vfio_iommu_type1 vfio_virqfd vfio-pci-core vfio-pci"
if [ ! -s "$cache/vmlinuz" ] || [ ! -s "$cache/modules/vfio-pci.ko" ]; then
	abi=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\).*/\1/p' | head -n 1)
	[ -n "$abi" ] || die "cannot resolve linux-image-amd64 (apt-get update?)"
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -q "$abi" >/dev/null 2>&1) ||
		{ rm -rf "$tmp"; die "apt-get download $abi failed"; }
	dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards \
		'./boot/vmlinuz-*' './lib/modules/*/kernel/drivers/vfio/*' \
		'./lib/modules/*/kernel/virt/lib/irqbypass.ko'
	mkdir -p "$cache/modules"
	for m in $vfio_mods; do
		find "$tmp/lib/modules" -name "$m.ko" -exec cp {} "$cache/modules/" \;
		[ -s "$cache/modules/$m.ko" ] || { rm -rf "$tmp"; die "$abi has no $m.ko"; }
	done
	mv "$tmp"/boot/vmlinuz-* "$cache/vmlinuz.new" && mv "$cache/vmlinuz.new" "$cache/vmlinuz"
	echo "$abi" > "$cache/kernel-abi"
	rm -rf "$tmp"
fi

# ---- the initramfs, when its inputs changed ----
tools="$build/src/vm/v4v-guestd $build/src/tools/v4v $build/src/preload/libv4v-preload.so $build/tests/vm/vm_probe"
for f in $tools "$@"; do
	[ -e "$f" ] || die "$f is missing (build first: sh scripts/build.sh)"
done
out=$build/vm
mkdir -p "$out"
ln -sf "$cache/vmlinuz" "$out/vmlinuz"
img=$out/initrd.img
# What went in, by name: an image built for other PROGRAMs is stale too.
inputs="$tools $* $vfio_mods"
stale=1
if [ -s "$img" ] && [ "$(cat "$out/initrd.inputs" 2>/dev/null)" = "$inputs" ]; then
	stale=0
	for f in $tools "$@" "$0" /bin/busybox; do
		[ "$f" -nt "$img" ] && stale=1
	done
fi
if [ $stale = 1 ]; then
	root=$(mktemp -d)
	mkdir -p "$root/bin" "$root/sbin" "$root/proc" "$root/sys" "$root/dev" \
		"$root/tmp" "$root/run/v4v" "$root/v4v" "$root/etc"
	cp /bin/busybox "$root/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
	done
	# Our programs and every library they (and the interposed programs)
	# load, at the paths the dynamic loader looks in.
	for f in $tools "$@"; do
		cp "$f" "$root/v4v/"
		ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}'
	done | sort -u | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	mkdir -p "$root/lib/modules"
	for m in $vfio_mods; do cp "$cache/modules/$m.ko" "$root/lib/modules/"; done
	echo "$vfio_mods" > "$root/lib/modules/order"
	echo "root:x:0:0:root:/:/bin/sh" > "$root/etc/passwd"
	cat > "$root/init" <<'INIT'
#!/bin/sh
echo # the firmware leaves the console mid-line
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# vfio, for the agent's interrupts; without an IOMMU it is unused.
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko 2>/dev/null; done
export PATH=/v4v:/bin V4V_PRELOAD_LIB=/v4v/libv4v-preload.so
script=$(sed -n 's/.*v4v\.run=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$script" ] && [ -f "$script" ]; then
	sh "$script"
	echo "v4v-vm: exit $?"
else
	echo "v4v-vm: no script (v4v.run=)"
fi
poweroff -f
INIT
	chmod 755 "$root/init"
	# A name of its own: two guests started at once may both rebuild.
	new=$(mktemp "$img.XXXXXX")
	(cd "$root" && find . | cpio -o -H newc --quiet) > "$new"
	mv "$new" "$img"
	echo "$inputs" > "$out/initrd.inputs"
	rm -rf "$root"
fi
echo "$out"
