#!/bin/sh
# bench/servers.sh: request/response servers nobody here wrote, over V4V
# (server and client each under `v4v run`), TCP loopback and UNIX sockets
# where the program has them, in one run: throughput, latency, and the CPU
# each request cost the server, the client and v4vd.
#
#   sh bench/servers.sh [--reps N] [--seconds S] [--only LIST] [--out FILE]
#
#   redis      redis-benchmark GET and SET, 1 and 50 clients; and PING
#              on a new connection each (-k 0: connections per second)
#   memcached  memcaslap (90% get, 10% set, 64-byte values), 1 and 50
#              clients (TCP only: memcaslap has no UNIX sockets); and
#              libmemcached's memcslap GETs, 1 and 8 threads, also over
#              UNIX (its CPU figures include its set-up: it loads the
#              keys it then gets)
#   nginx      wrk on a 1 KiB file, 1 and 50 connections
#   pgbench    pgbench -S (PostgreSQL 15), 1 and 8 clients
#   idle       redis with 100 idle connections: its CPU over 10 s
#
# LIST is a comma-separated subset (default: all).  Each figure is the
# median of N runs (default 3) of about S seconds (default 2).  Latency is
# the p50 the load generator reports, except where it reports only a mean
# (memcaslap: the mean from Little's law, clients / throughput; pgbench:
# its "latency average"); such rows say "mean".  CPU per request comes
# from cpuacct cgroups (v1 or v2) the servers and clients run in, and
# from v4vd's /proc/PID/stat.  The plain servers (TCP, UNIX) run without
# the interposer.  Needs root, a running v4vd (scripts/hv-ensure.sh), the
# build in ./build, and the programs (scripts/deps.sh); a program that is
# missing is skipped with a note.  Prints a markdown table; --out also
# writes it.
set -u
. "$(dirname "$0")/../tests/lib.sh"
cd "$(dirname "$0")/.."
reps=3 secs=2 out="" only=redis,memcached,nginx,pgbench,idle
while [ $# -gt 0 ]; do
	case $1 in
	--reps) reps=$2; shift 2 ;;
	--seconds) secs=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	-h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/servers.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
case $reps$secs in *[!0-9]*) echo "bench/servers.sh: --reps and --seconds take whole numbers" >&2; exit 2 ;; esac
V4V=${V4V:-$PWD/build/src/tools/v4v}
export V4V_PRELOAD_LIB=${V4V_PRELOAD_LIB:-$PWD/build/src/preload/libv4v-preload.so}
sock=${V4V_SOCKET:-/run/v4v/v4vd.sock}
"$V4V" status >/dev/null 2>&1 || { echo "bench/servers.sh: v4vd is not running (sh scripts/hv-ensure.sh)" >&2; exit 3; }
hvpid=$(ss -xlpn | awk -v s="$sock" '$5 == s' | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
pg=${PG_BIN:-/usr/lib/postgresql/15/bin}
dir=$(mktemp -d /tmp/v4vsrvbench.XXXXXX)
chmod 755 "$dir"
pids="" notes=""

# ---- CPU accounting: one cgroup per role ----
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	cgroot=/sys/fs/cgroup
elif [ -d /sys/fs/cgroup/cpuacct ]; then
	cgroot=/sys/fs/cgroup/cpuacct
else
	cgroot=""
fi
cg() { echo "$cgroot/v4vsrvbench.$$.$1"; }
if [ -n "$cgroot" ]; then
	for r in srv-v4v srv-plain cli; do
		mkdir "$(cg $r)" 2>/dev/null || { cgroot=""; break; }
	done
fi
# Run CMD in cgroup NAME (its children stay there).
cg_exec() { # NAME CMD...
	c=$(cg "$1"); shift
	if [ -d "$c" ]; then
		sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$c" "$@"
	else
		"$@"
	fi
}
cg_ns() { # NAME -> CPU ns used so far, empty if unknown
	c=$(cg "$1")
	if [ -f "$c/cpuacct.usage" ]; then
		cat "$c/cpuacct.usage"
	elif [ -f "$c/cpu.stat" ]; then
		awk '$1 == "usage_usec" { printf "%.0f\n", $2 * 1000 }' "$c/cpu.stat"
	fi
}
hv_ns() { # v4vd's CPU ns so far (clock ticks), empty if unknown
	[ -n "$hvpid" ] && [ -r "/proc/$hvpid/stat" ] || return 0
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.0f\n", ($12 + $13) * 1e9 / hz }' "/proc/$hvpid/stat"
}

cleanup() {
	stop_servers
	for p in $pids; do kill -KILL "-$p" 2>/dev/null; done
	[ -n "${pgdata:-}" ] && runuser -u postgres -- "$pg/pg_ctl" -D "$pgdata" stop -m immediate >/dev/null 2>&1
	wait 2>/dev/null
	for r in srv-v4v srv-plain cli; do
		[ -d "$(cg $r)" ] && rmdir "$(cg $r)" 2>/dev/null
	done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' INT TERM
progress() { printf '\r%-72s' "servers bench: $*" >&2; }
# bg ROLE CMD...: a server in its own session and ROLE's cgroup.
bg() {
	role=$1; shift
	setsid sh -c 'echo $$ >"$0/cgroup.procs" 2>/dev/null; exec "$@"' "$(cg "$role")" "$@" \
		</dev/null >>"$dir/servers.log" 2>&1 &
	pids="$pids $!"
}
stop_servers() {
	for p in $pids; do kill -TERM "-$p" 2>/dev/null; done
	sleep 0.3
	for p in $pids; do kill -KILL "-$p" 2>/dev/null; done
	pids=""
}
wait_listen() { # PORT
	listening "$1" && return 0
	echo "bench/servers.sh: server on port $1 did not start" >&2
	tail -n 20 "$dir/servers.log" >&2
	exit 1
}
wanted() { case ",$only," in *",$1,"*) return 0 ;; esac; return 1; }
have() { # PROGRAM...: all installed, else a note
	for p; do
		command -v "$p" >/dev/null 2>&1 || [ -x "$p" ] || {
			notes="$notes
- $section skipped: $p is not installed (scripts/deps.sh)."
			return 1
		}
	done
}
median() { sort -g | awk '{v[NR]=$1} END {if (NR) print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The client under `v4v run` for V4V, plain otherwise, in cgroup cli.
client() { # HOW CMD...
	how=$1; shift
	if [ "$how" = v4v ]; then
		cg_exec cli "$V4V" run -d "bench-cli" -- "$@"
	else
		cg_exec cli "$@"
	fi
}

# measure LABEL HOW FN ARGS...: FN prints "RATE LATENCY_US COUNT" for one
# run of its client; REPS runs, each with the CPU the server, the client
# and v4vd spent per request; medians into $dir/LABEL.HOW.
measure() {
	label=$1 how=$2; shift 2
	srv=srv-plain
	[ "$how" = v4v ] && srv=srv-v4v
	: >"$dir/samples"
	for r in $(seq "$reps"); do
		progress "$label over $how ($r/$reps)"
		s0=$(cg_ns $srv) c0=$(cg_ns cli) h0=$(hv_ns)
		res=$("$@" "$how" 2>>"$dir/clients.log")
		s1=$(cg_ns $srv) c1=$(cg_ns cli) h1=$(hv_ns)
		echo "$res" | awk -v s0="$s0" -v s1="$s1" -v c0="$c0" -v c1="$c1" \
			-v h0="$h0" -v h1="$h1" '
			function per(a, b) { return (a == "" || b == "" || $3 <= 0) ? "?" : (b - a) / 1000 / $3 }
			NF == 3 && $1 > 0 { print $1, $2, per(s0, s1), per(c0, c1), per(h0, h1) }' >>"$dir/samples"
	done
	: >"$dir/$label.$how"
	for col in 1 2 3 4 5; do
		awk -v c=$col '$c != "?" { print $c }' "$dir/samples" | median >"$dir/col"
		printf '%s ' "$(cat "$dir/col")" >>"$dir/$label.$how"
	done
	rows="$rows $label.$how"
}
rows=""

# ---- redis ----
redis_run() { # OP CLIENTS HOW  (OP conn: a PING on a new connection each)
	n=$(( secs * ($2 > 1 ? 60000 : 25000) ))
	t=$1 k=1
	[ "$1" = conn ] && t=ping_inline k=0 n=$(( secs * 2000 ))
	case $3 in
	v4v) set -- "$1" "$2" "$3" -h 127.0.0.1 -p "$redis_v4v" ;;
	tcp) set -- "$1" "$2" "$3" -h 127.0.0.1 -p "$redis_tcp" ;;
	unix) set -- "$1" "$2" "$3" -s "$dir/redis.sock" ;;
	esac
	c=$2 how=$3; shift 3
	client "$how" redis-benchmark "$@" -q -n "$n" -c "$c" -t "$t" -k "$k" 2>&1 |
		tr '\r' '\n' | awk -v n="$n" '/requests per second/ {
			lat = "?"
			if (match($0, /p50=[0-9.]+/)) lat = substr($0, RSTART + 4, RLENGTH - 4) * 1000
			print $2, lat, n }' | tail -n 1
}
section=redis
if wanted redis && have redis-server redis-benchmark; then
	redis_v4v=$(port) redis_tcp=$(port)
	bg srv-v4v "$V4V" run -d redis-v4v -- redis-server --port "$redis_v4v" --save "" --appendonly no
	bg srv-plain redis-server --port "$redis_tcp" --save "" --appendonly no \
		--unixsocket "$dir/redis.sock" --unixsocketperm 777
	wait_listen "$redis_v4v"; wait_listen "$redis_tcp"
	for op in get set; do
		for c in 1 50; do
			for how in v4v tcp unix; do
				measure "redis-$op-c$c" "$how" redis_run "$op" "$c"
			done
		done
	done
	for how in v4v tcp unix; do
		measure redis-conn-c1 "$how" redis_run conn 1
	done
	stop_servers
fi

# ---- redis with idle connections ----
# A client opens N connections, checks each with a PING, says "ready",
# keeps them open and idle for S seconds.  The server's CPU is read one
# second after "ready" and ten seconds later, while the connections are
# still open: their set-up and tear-down (100 rings mapped and unmapped)
# are not idling, and counting them made V4V look 1.6x dearer than TCP.
idle_clients() { # HOW PORT N S
	client "$1" python3 -c '
import socket, sys, time
port, n, s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
cs = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
for c in cs:
    c.sendall(b"PING\r\n")
    assert c.recv(64).startswith(b"+PONG")
print("ready", flush=True)
time.sleep(s)
print("done", flush=True)' "$2" "$3" "$4"
}
idle_cpu() { # HOW PORT -> ms of server CPU while 100 connections idle 10 s
	srv=srv-plain
	[ "$1" = v4v ] && srv=srv-v4v
	idle_clients "$1" "$2" 100 13 >"$dir/idle.out" 2>>"$dir/clients.log" &
	ip=$!
	for _ in $(seq 300); do
		grep -q ready "$dir/idle.out" && break
		sleep 0.1
	done
	sleep 1
	s0=$(cg_ns $srv)
	sleep 10
	s1=$(cg_ns $srv)
	# Still idle and connected when s1 was read: the client had not
	# finished (it says "done" after 13 s).
	grep -q done "$dir/idle.out" && s1=""
	wait $ip
	[ -n "$s0" ] && [ -n "$s1" ] && grep -q done "$dir/idle.out" &&
		awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'
}
section="idle connections"
if wanted idle && have redis-server python3; then
	redis_v4v=$(port) redis_tcp=$(port)
	bg srv-v4v "$V4V" run -d redis-idle -- redis-server --port "$redis_v4v" --save "" --appendonly no
	bg srv-plain redis-server --port "$redis_tcp" --save "" --appendonly no
	wait_listen "$redis_v4v"; wait_listen "$redis_tcp"
	progress "redis, 100 idle V4V connections (10 s)"
	idle_v4v=$(idle_cpu v4v "$redis_v4v")
	progress "redis, 100 idle TCP connections (10 s)"
	idle_tcp=$(idle_cpu tcp "$redis_tcp")
	stop_servers
fi

# ---- memcached ----
mc_run() { # CLIENTS HOW
	p=$mc_tcp
	[ "$2" = v4v ] && p=$mc_v4v
	client "$2" memcaslap -s "127.0.0.1:$p" -t "${secs}s" -T 1 -c "$1" -X 64 2>&1 |
		awk -v c="$1" '/^Run time:/ { for (i = 1; i < NF; i++) { if ($i == "Ops:") ops = $(i+1); if ($i == "TPS:") tps = $(i+1) }
			if (tps > 0) print tps, c / tps * 1e6, ops }'
}
section=memcached
if wanted memcached && have memcached memcaslap; then
	mc_v4v=$(port) mc_tcp=$(port)
	bg srv-v4v "$V4V" run -d memcached-v4v -- memcached -u nobody -l 127.0.0.1 -p "$mc_v4v" -t 1
	bg srv-plain memcached -u nobody -l 127.0.0.1 -p "$mc_tcp" -t 1
	wait_listen "$mc_v4v"; wait_listen "$mc_tcp"
	for c in 1 50; do
		for how in v4v tcp; do
			measure "memcached-c$c" "$how" mc_run "$c"
		done
	done
	stop_servers
fi

# ---- memcached GETs with libmemcached's memcslap, which has UNIX sockets ----
mcs_run() { # CLIENTS HOW
	case $2 in
	v4v) srv=127.0.0.1:$mc_v4v ;;
	tcp) srv=127.0.0.1:$mc_tcp ;;
	unix) srv=$dir/mc/sock ;;
	esac
	e=$((secs * 40000 / $1))
	# A failed get is not a fast one: a run with any error, or no hit
	# ("Time to get N keys": N found), gives no figure.
	client "$2" memcslap -s "$srv" -t get -c "$1" -e "$e" 2>&1 |
		awk -v c="$1" -v e="$e" '/[Ee]rror|FAIL/ { bad = 1 }
			/^Time to get/ { hits = $4; t = $(NF-1) }
			END { if (!bad && hits > 0 && t > 0)
				print c * e / t, c / (c * e / t) * 1e6, c * e }'
}
section=memcslap
if wanted memcached && have memcached memcslap; then
	mc_v4v=$(port) mc_tcp=$(port)
	bg srv-v4v "$V4V" run -d memcached-v4v -- memcached -u nobody -l 127.0.0.1 -p "$mc_v4v" -t 1
	bg srv-plain memcached -u nobody -l 127.0.0.1 -p "$mc_tcp" -t 1
	mkdir -m 777 "$dir/mc" # memcached makes its socket as nobody
	bg srv-plain memcached -u nobody -s "$dir/mc/sock" -a 777 -t 1
	wait_listen "$mc_v4v"; wait_listen "$mc_tcp"
	for i in $(seq 50); do [ -S "$dir/mc/sock" ] && break; sleep 0.1; done
	for c in 1 8; do
		for how in v4v tcp unix; do
			measure "memcslap-get-c$c" "$how" mcs_run "$c"
		done
	done
	stop_servers
fi

# ---- nginx + wrk ----
wrk_run() { # CONNS HOW
	p=$ngx_tcp
	[ "$2" = v4v ] && p=$ngx_v4v
	client "$2" wrk -t1 -c"$1" -d"${secs}s" --latency "http://127.0.0.1:$p/small" 2>&1 |
		awk '/^ *50%/ { v = $2; u = v; sub(/[0-9.]+/, "", u); v += 0
				lat = u == "ms" ? v * 1000 : u == "s" ? v * 1e6 : v }
			/requests in/ { n = $1 }
			/^Requests\/sec/ { r = $2 }
			END { if (r > 0) print r, lat, n }'
}
section=nginx
if wanted nginx && have nginx wrk; then
	ngx_v4v=$(port) ngx_tcp=$(port)
	head -c 1024 /dev/urandom >"$dir/small"
	for w in v4v tcp; do
		eval "p=\$ngx_$w"
		mkdir -p "$dir/ngx-$w"
		sh tests/preload/nginx_conf.sh "$dir/ngx-$w" "$p" "$dir"
	done
	bg srv-v4v "$V4V" run -d nginx-v4v -- nginx -c "$dir/ngx-v4v/nginx.conf" -e stderr
	bg srv-plain nginx -c "$dir/ngx-tcp/nginx.conf" -e stderr
	wait_listen "$ngx_v4v"; wait_listen "$ngx_tcp"
	for c in 1 50; do
		for how in v4v tcp; do
			measure "nginx-c$c" "$how" wrk_run "$c"
		done
	done
	stop_servers
fi

# ---- pgbench -S ----
pgb_run() { # CLIENTS HOW
	h=127.0.0.1
	[ "$2" = unix ] && h=$dir/pg/sock
	client "$2" pgbench -n -S -c "$1" -j "$(( $1 > 1 ? 2 : 1 ))" -T "$secs" \
		-h "$h" -p "$pg_port" -U postgres postgres 2>&1 |
		awk '/^latency average/ { lat = $4 * 1000 }
			/actually processed:/ { split($NF, a, "/"); n = a[1] }
			/^tps = / { t = $3 }
			END { if (t > 0) print t, lat, n }'
}
pg_start() { # ROLE [v4v]
	if [ "${2:-}" = v4v ]; then
		set -- "$1" "$V4V" run -d pg-server --
	else
		set -- "$1"
	fi
	role=$1; shift
	cg_exec "$role" runuser -u postgres -- "$@" "$pg/pg_ctl" -D "$pgdata" -l "$dir/pg/log" -w \
		-o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$dir/pg/sock -c fsync=off" \
		start >>"$dir/servers.log" 2>&1
}
section=pgbench
if wanted pgbench && have "$pg/initdb" "$pg/pg_ctl" pgbench runuser && id postgres >/dev/null 2>&1; then
	progress "pgbench: initdb"
	pgdata=$dir/pg/data pg_port=$(port)
	mkdir -p "$dir/pg/sock" && chown -R postgres "$dir/pg"
	runuser -u postgres -- "$pg/initdb" -D "$pgdata" -U postgres --auth=trust --no-sync >"$dir/initdb.log" 2>&1 &&
		pg_start srv-plain && pgbench -i -s 1 -h 127.0.0.1 -p "$pg_port" -U postgres postgres >>"$dir/clients.log" 2>&1 || {
		echo "bench/servers.sh: PostgreSQL did not start:" >&2
		tail -n 20 "$dir/initdb.log" "$dir/pg/log" >&2
		exit 1
	}
	for c in 1 8; do
		for how in tcp unix; do
			measure "pgbench-c$c" "$how" pgb_run "$c"
		done
	done
	runuser -u postgres -- "$pg/pg_ctl" -D "$pgdata" stop -m fast >>"$dir/servers.log" 2>&1
	pg_start srv-v4v v4v || { echo "bench/servers.sh: PostgreSQL did not start under v4v run" >&2; exit 1; }
	for c in 1 8; do
		measure "pgbench-c$c" v4v pgb_run "$c"
	done
	runuser -u postgres -- "$pg/pg_ctl" -D "$pgdata" stop -m fast >>"$dir/servers.log" 2>&1
	pgdata=""
elif wanted pgbench; then
	notes="$notes
- pgbench skipped: needs PostgreSQL 15 (postgresql-15), pgbench and a user postgres."
fi
printf '\r%-72s\r' "" >&2

# ---- the table ----
f() { # LABEL.HOW COLUMN -> the figure, "-" if not measured
	[ -f "$dir/$1" ] || { echo "-"; return; }
	awk -v c="$2" '{ v = $c; if (v == "") print "?"; else if (c == 1) printf "%.0f\n", v; else printf "%.1f\n", v }' "$dir/$1"
}
ratio() { # A B -> A/B
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}
{
	echo "| workload | transport | requests/s | latency, us | server CPU, us/req | client CPU, us/req | v4vd CPU, us/req |"
	echo "|---|---|---|---|---|---|---|"
	for r in $rows; do
		label=${r%.*} how=${r##*.}
		kind=p50
		case $label in memc* | pgbench*) kind=mean ;; esac
		echo "| $label | $how | $(f "$r" 1) | $(f "$r" 2) ($kind) | $(f "$r" 3) | $(f "$r" 4) | $(f "$r" 5) |"
	done
	echo
	echo "| workload | V4V / TCP requests/s | V4V / UNIX requests/s | TCP / V4V latency |"
	echo "|---|---|---|---|"
	for r in $rows; do
		case $r in *.v4v) ;; *) continue ;; esac
		label=${r%.*}
		echo "| $label | $(ratio "$(f "$label.v4v" 1)" "$(f "$label.tcp" 1)") | $(ratio "$(f "$label.v4v" 1)" "$(f "$label.unix" 1)") | $(ratio "$(f "$label.tcp" 2)" "$(f "$label.v4v" 2)") |"
	done
	if [ -n "${idle_v4v:-}${idle_tcp:-}" ]; then
		echo
		echo "redis with 100 idle connections, server CPU over 10 s: ${idle_v4v:-?} ms over V4V, ${idle_tcp:-?} ms over TCP (no interposer)."
	fi
	echo
	echo "Medians of $reps runs of about $secs s; $(nproc) CPUs; v4vd $("$V4V" status | sed -n '1s/^v4vd: \([a-z]*\) mode.*/\1 mode/p')."
	[ -n "$cgroot" ] || echo "No cpuacct cgroup here: server and client CPU not measured."
	[ -n "$notes" ] && echo "$notes"
} | tee "$dir/table.md"
[ -n "$out" ] && cp "$dir/table.md" "$out"
exit 0
