#!/bin/sh
# Install what building and testing V4VSockets needs, on Debian 12, as root.
# Each package and why:
#   gcc, meson, ninja-build, pkg-config  the build
#   clang, libclang-rt-14-dev            libFuzzer fuzzers (-fsanitize=fuzzer)
#   iproute2                             network namespaces in tests/benchmarks
#   gnuplot-nox                          the benchmark's PNG plot
#   spin                                 model checking of the wakeup protocol
#   python3                              test summaries, helpers, and
#                                        the manual pages (man/md2man.py)
#   man-db, groff-base                   `man -l` checks the installed pages
#   socat curl redis-server redis-tools nginx-light wrk iperf3 sockperf
#                                        real programs the interposer is
#                                        tested and benchmarked with
#   memcached libmemcached-tools         memcached and its load generator
#                                        (memcaslap) for bench/servers.sh
#   qemu-system-x86 busybox-static cpio  real virtual machines as domains:
#                                        the VM tests boot a guest (Debian's
#                                        kernel, fetched by apt-get download,
#                                        and busybox) under QEMU
#   postgresql libpython3.11-testsuite   the conformance suite: PostgreSQL
#                                        and CPython's own socket tests
#                                        under the interposer
#   git                                  git daemon: a server that execs
#                                        a program on each connection
set -eu
need=""
for pkg in gcc meson ninja-build pkg-config clang libclang-rt-14-dev \
           iproute2 gnuplot-nox spin python3 socat curl redis-server \
           redis-tools nginx-light wrk iperf3 sockperf postgresql \
           memcached libmemcached-tools qemu-system-x86 busybox-static cpio \
           libpython3.11-testsuite git man-db groff-base; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
		grep -q "install ok installed" || need="$need $pkg"
done
if [ -n "$need" ]; then
	echo "deps: installing$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $need >/dev/null
fi
