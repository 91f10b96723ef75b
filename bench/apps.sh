#!/bin/sh
# bench/apps.sh: unmodified programs over V4V (through `v4v run`) against
# TCP loopback, UNIX sockets where the program has them, and the generic
# path (TCP between two network namespaces through veth pairs and a
# bridge).  Each figure is the median of REPS runs, all in this one run.
#
#   sh bench/apps.sh [--reps N] [--seconds S] [--out FILE]
#
# Needs root (namespaces), a running v4vd (scripts/hv-ensure.sh), the
# build in ./build, and iperf3, sockperf, redis and nginx+wrk
# (scripts/deps.sh).  Prints a markdown table; --out also writes it.
set -u
# listening (this script defines its own cleanup after it)
. "$(dirname "$0")/../tests/lib.sh"
cd "$(dirname "$0")/.."
reps=3 secs=2 out=""
while [ $# -gt 0 ]; do
	case $1 in
	--reps) reps=$2; shift 2 ;;
	--seconds) secs=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	-h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/apps.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
V4V=${V4V:-$PWD/build/src/tools/v4v}
export V4V_PRELOAD_LIB=${V4V_PRELOAD_LIB:-$PWD/build/src/preload/libv4v-preload.so}
"$V4V" status >/dev/null 2>&1 || { echo "bench/apps.sh: v4vd is not running (sh scripts/hv-ensure.sh)" >&2; exit 3; }
dir=$(mktemp -d /tmp/v4vappbench.XXXXXX)
chmod 755 "$dir"
pids=""
. bench/vmnet.sh
A=v4vapp-a B=v4vapp-b
cleanup() {
	for p in $pids; do kill -TERM "-$p" 2>/dev/null; done
	sleep 0.3
	for p in $pids; do kill -KILL "-$p" 2>/dev/null; done
	wait 2>/dev/null
	vmnet_down v4vapp
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
progress() { printf '\r%-70s' "apps bench: $*" >&2; }
bg() { setsid "$@" </dev/null >>"$dir/servers.log" 2>&1 & pids="$pids $!"; }
stop_servers() {
	for p in $pids; do kill -TERM "-$p" 2>/dev/null; done
	sleep 0.3
	pids=""
}
wait_listen() { # PORT [NETNS]
	listening "$@" && return 0
	echo "bench/apps.sh: server on port $1 did not start" >&2
	cat "$dir/servers.log" >&2
	exit 1
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
v4vrun() { n=$1; shift; "$V4V" run -d "$n" -- "$@"; }

# ---- iperf3: Gbit/s ----
iperf_rate() { # FILE -> receiver Gbit/s
	awk '/receiver/ { v=$(NF-2); u=$(NF-1); if (u ~ /^M/) v/=1000; print v }' "$1"
}
iperf_once() { # HOW PORT
	case $1 in
	v4v) v4vrun ipc iperf3 -c 127.0.0.1 -p "$2" -t "$secs" ;;
	tcp | fallback-plain) iperf3 -c 127.0.0.1 -p "$2" -t "$secs" ;;
	fallback) v4vrun ipc iperf3 -c 127.0.0.1 -p "$2" -t "$secs" ;;
	generic) ip netns exec $A iperf3 -c 169.254.78.2 -p "$2" -t "$secs" ;;
	esac >"$dir/ip.out" 2>&1
	iperf_rate "$dir/ip.out"
}

# ---- sockperf: ping-pong p50 (us) and throughput (MB/s) ----
sp_pp() { awk '/percentile 50.000/ {print $NF}' "$1"; }
sp_bw() { awk '/BandWidth is/ {print $(NF-3)}' "$1"; }
sockperf_once() { # HOW WHAT ADDR PORT
	how=$1 what=$2 addr=$3 port=$4
	set -- sockperf "$what" --tcp -i "$addr" -p "$port" -t "$secs"
	[ "$what" = throughput ] && set -- "$@" -m 65000
	# --mps=max sizes sockperf's send-time table for a rate V4V exceeds
	[ "$what" = ping-pong ] && set -- "$@" --mps=5000000
	case $how in
	v4v) v4vrun spc "$@" ;;
	tcp) "$@" ;;
	generic) ip netns exec $A "$@" ;;
	esac >"$dir/sp.out" 2>&1
	if [ "$what" = ping-pong ]; then sp_pp "$dir/sp.out"; else sp_bw "$dir/sp.out"; fi
}

# ---- redis-benchmark: GET requests/s ----
redis_once() { # HOW PORT-or-SOCKET
	case $1 in
	v4v) v4vrun rb redis-benchmark -p "$2" -q -n 50000 -t get ;;
	tcp) redis-benchmark -p "$2" -q -n 50000 -t get ;;
	unix) redis-benchmark -s "$2" -q -n 50000 -t get ;;
	esac 2>&1 | tr '\r' '\n' | awk '/^GET: [0-9.]+ requests per second/ {print $2}'
}

# ---- nginx + wrk: requests/s for a 1 MiB file ----
wrk_once() { # HOW PORT
	case $1 in
	v4v) v4vrun wrk wrk -t1 -c4 -d"$secs" "http://127.0.0.1:$2/blob" ;;
	tcp) wrk -t1 -c4 -d"$secs" "http://127.0.0.1:$2/blob" ;;
	esac 2>&1 | awk '/Requests\/sec/ {print $2}'
}

measure() { # LABEL FN ARGS...: median of $reps runs, into $dir/LABEL
	label=$1
	shift
	: >"$dir/$label.samples"
	for r in $(seq "$reps"); do
		progress "$label ($r/$reps)"
		"$@" >>"$dir/$label.samples"
	done
	median <"$dir/$label.samples" >"$dir/$label"
}
val() { cat "$dir/$1" 2>/dev/null || echo "?"; }
ratio() { awk -v a="$(val "$1")" -v b="$(val "$2")" 'BEGIN { if (b > 0 && a > 0) printf "%.2f", a / b; else print "?" }'; }

vmnet_up v4vapp 169.254.78 || exit 1
head -c 1048576 /dev/urandom >"$dir/blob"

# iperf3: one V4V server, one plain server (the fallback case), one in b.
bg "$V4V" run -d ips -- iperf3 -s -p 5301
bg iperf3 -s -p 5302
bg ip netns exec $B iperf3 -s -p 5303
wait_listen 5301; wait_listen 5302; wait_listen 5303 $B
measure iperf.v4v iperf_once v4v 5301
measure iperf.tcp iperf_once tcp 5302
measure iperf.generic iperf_once generic 5303
# The interposer's cost where it cannot help: alternate with and without.
: >"$dir/fb.with"; : >"$dir/fb.without"
for r in $(seq $((reps * 2))); do
	progress "iperf3 to a plain server, with and without the interposer ($r)"
	iperf_once fallback 5302 >>"$dir/fb.with"
	iperf_once fallback-plain 5302 >>"$dir/fb.without"
done
median <"$dir/fb.with" >"$dir/iperf.fallback"
median <"$dir/fb.without" >"$dir/iperf.plain"
stop_servers

bg "$V4V" run -d sps -- sockperf server --tcp -i 127.0.0.1 -p 5311
bg sockperf server --tcp -i 127.0.0.1 -p 5312
bg ip netns exec $B sockperf server --tcp -i 169.254.78.2 -p 5313
wait_listen 5311; wait_listen 5312; wait_listen 5313 $B
for w in ping-pong throughput; do
	measure "sp.$w.v4v" sockperf_once v4v "$w" 127.0.0.1 5311
	measure "sp.$w.tcp" sockperf_once tcp "$w" 127.0.0.1 5312
	measure "sp.$w.generic" sockperf_once generic "$w" 169.254.78.2 5313
done
stop_servers

bg "$V4V" run -d redis -- redis-server --port 5321 --save "" --appendonly no \
	--unixsocket "$dir/redis.sock" --unixsocketperm 777
wait_listen 5321
measure redis.v4v redis_once v4v 5321
measure redis.tcp redis_once tcp 5321
measure redis.unix redis_once unix "$dir/redis.sock"
stop_servers

mkdir -p "$dir/ngx"
sh tests/preload/nginx_conf.sh "$dir/ngx" 5331 "$dir"
bg "$V4V" run -d nginx -- nginx -c "$dir/ngx/nginx.conf" -e stderr
wait_listen 5331
measure wrk.v4v wrk_once v4v 5331
measure wrk.tcp wrk_once tcp 5331
stop_servers
printf '\r%-70s\r' "" >&2

{
echo "| program | measure | V4V | TCP loopback | UNIX | generic | V4V / TCP | V4V / generic |"
echo "|---|---|---|---|---|---|---|---|"
echo "| iperf3 | Gbit/s | $(val iperf.v4v) | $(val iperf.tcp) | n/a | $(val iperf.generic) | $(ratio iperf.v4v iperf.tcp) | $(ratio iperf.v4v iperf.generic) |"
echo "| sockperf ping-pong | p50 latency, us (lower is better) | $(val sp.ping-pong.v4v) | $(val sp.ping-pong.tcp) | n/a | $(val sp.ping-pong.generic) | $(ratio sp.ping-pong.tcp sp.ping-pong.v4v) faster | $(ratio sp.ping-pong.generic sp.ping-pong.v4v) faster |"
echo "| sockperf throughput, 65000 B | MB/s | $(val sp.throughput.v4v) | $(val sp.throughput.tcp) | n/a | $(val sp.throughput.generic) | $(ratio sp.throughput.v4v sp.throughput.tcp) | $(ratio sp.throughput.v4v sp.throughput.generic) |"
echo "| redis-benchmark GET | requests/s | $(val redis.v4v) | $(val redis.tcp) | $(val redis.unix) | n/a | $(ratio redis.v4v redis.tcp) | |"
echo "| nginx + wrk, 1 MiB file | requests/s | $(val wrk.v4v) | $(val wrk.tcp) | n/a | n/a | $(ratio wrk.v4v wrk.tcp) | |"
echo
echo "Interposer cost where V4V cannot help (iperf3 to a plain TCP server):"
echo "$(val iperf.fallback) Gbit/s with, $(val iperf.plain) Gbit/s without: ratio $(ratio iperf.fallback iperf.plain)."
echo
echo "Medians of $reps runs of $secs s (fallback: $((reps * 2)) alternating runs each)."
echo "iperf3, sockperf and wrk have no UNIX-socket mode; \`v4v bench\` has UNIX figures for the same sizes."
} | tee "$dir/table.md"
[ -n "$out" ] && cp "$dir/table.md" "$out"
exit 0
