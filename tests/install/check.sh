#!/bin/sh
# check.sh BUILDDIR: install BUILDDIR into BUILDDIR/dest (meson install
# --destdir), then build a program against it with pkg-config, as a user
# of the installed libv4v would.  Exit 0 when it builds and links.
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
echo "installed libv4v: pkg-config gives '$flags'; a program builds against it"
