#!/bin/sh
# check.sh BUILDDIR: install BUILDDIR into BUILDDIR/dest (meson install
# --destdir), then check what a packager and a user meet: a program builds
# against the installed libv4v with pkg-config; the installed systemd unit
# passes `systemd-analyze verify` (when systemd-analyze is there); the
# installed v4vd tells a Type=notify service manager it is ready.  Exit 0
# when all hold.
set -eu
build=$1
dest=$(cd "$build" && pwd)/dest
rm -rf "$dest"
meson install -C "$build" --destdir "$dest" >/dev/null
pc=$(dirname "$(find "$dest" -name libv4v.pc | head -1)")
[ -d "$pc" ] || { echo "no libv4v.pc installed"; exit 1; }
flags=$(PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$dest \
	pkg-config --cflags --libs libv4v)
${CC:-cc} -Wall -Werror -o "$build/use_libv4v" \
	"$(dirname "$0")/use_libv4v.c" $flags

unit=$(find "$dest" -name v4vd.service | head -1)
sbin=$(dirname "$(find "$dest" -name v4vd -type f | head -1)")
[ -f "$unit" ] && [ -x "$sbin/v4vd" ] || { echo "v4vd or its unit not installed"; exit 1; }
if command -v systemd-analyze >/dev/null 2>&1; then
	# Verified as installed, but pointing at the staged binary.
	sed "s|^ExecStart=[^ ]*|ExecStart=$sbin/v4vd|" "$unit" >"$build/v4vd.service"
	systemd-analyze verify --man=no "$build/v4vd.service"
	echo "systemd-analyze verify: the unit passes"
fi
# Every manual page renders, without a warning from groff.
pages=$(find "$dest" -path '*/man/man[0-9]/*' -type f | sort)
for want in v4vd.8 v4v.1 v4v-run.1 libv4v.3 rgpu-server.8 rgpu-bench.1; do
	echo "$pages" | grep -q "/$want\$" || { echo "man page $want not installed"; exit 1; }
done
for page in $pages; do
	warn=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || true
	lines=$(MANWIDTH=80 man -l "$page" 2>/dev/null | wc -l)
	if [ -n "$warn" ] || [ "$lines" -lt 20 ]; then
		echo "man -l $page: $lines lines; $warn"
		exit 1
	fi
done
echo "man -l: $(echo "$pages" | wc -l) pages render without warnings"
# Readiness, as systemd receives it: one datagram, READY=1.
python3 - "$sbin/v4vd" "$build" <<'PY'
import os, socket, subprocess, sys
v4vd, build = sys.argv[1], os.path.abspath(sys.argv[2])
ns = os.path.join(build, "notify.sock")
ctl = os.path.join(build, "notify-test.sock")
for p in (ns, ctl):
    if os.path.exists(p):
        os.unlink(p)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(ns)
s.settimeout(10)
p = subprocess.Popen([v4vd, "--foreground", "--socket", ctl],
                     env=dict(os.environ, NOTIFY_SOCKET=ns),
                     stderr=subprocess.DEVNULL)
try:
    msg = s.recv(64)
finally:
    p.terminate()
    p.wait()
if msg != b"READY=1":
    sys.exit("v4vd said %r, not READY=1" % msg)
print("v4vd tells a Type=notify service manager: READY=1")
PY
echo "installed libv4v: pkg-config gives '$flags'; a program builds against it"
