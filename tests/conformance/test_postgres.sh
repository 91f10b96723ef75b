#!/bin/sh
# test_postgres.sh [--strict]: PostgreSQL 15, unmodified, over the
# kernel's TCP and then under `v4v run` (the server, started by pg_ctl, in
# one domain, each pgbench in another), against a private v4vd (v4vd
# --strict with --strict).  Both runs listen on 127.0.0.1 (a free port;
# the Unix socket in a private directory) and connect with -h 127.0.0.1:
#
#   pg_ctl start -w, pgbench -i -s 1, pgbench -S -c 4 -j 2 -T SECS,
#   pg_ctl stop -m fast
#
# Every step runs under `timeout`.  Over V4V each must finish within twice
# its TCP time (at least FLOOR s), and v4vd's stream byte counter must show
# that V4V carried the clients' traffic.  Prints the times and tps of both.
# Environment: CONF_PG_SECS (pgbench -T, default 3), CONF_PG_FLOOR
# (default 2), PG_BIN (default /usr/lib/postgresql/15/bin).  Exit 77
# (skipped) if PostgreSQL 15 or pgbench is not installed.
set -u
: "${V4VD:?}" "${V4V:?}" "${V4V_PRELOAD_LIB:?}"
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
secs=${CONF_PG_SECS:-3}
floor=${CONF_PG_FLOOR:-2}
for p in "$bin/initdb" "$bin/pg_ctl" "$bin/postgres" "$(command -v pgbench)" "$(command -v runuser)"; do
	[ -x "$p" ] && continue
	echo "SKIP: ${p:-pgbench or runuser} is not installed (Debian: postgresql-15)"
	exit 77
done
id postgres >/dev/null 2>&1 || { echo "SKIP: no user postgres"; exit 77; }
. "$(dirname "$0")/../lib.sh"
t_setup v4vpg
trap 'exit 143' TERM INT HUP # and so clean up (the EXIT trap)
chmod 755 "$dir" # the server runs as postgres and must reach the hypervisor
strict=""
[ "${1:-}" = --strict ] && strict=--strict

cleanup() {
	# pg_ctl starts the postmaster in a session of its own: kill that.
	for pidfile in "$dir"/*/data/postmaster.pid; do
		[ -f "$pidfile" ] || continue
		pm=$(head -n 1 "$pidfile")
		kill -KILL "-$pm" "$pm" 2>/dev/null
	done
	[ -n "$hv" ] && kill "$hv" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$dir"
}

# shellcheck disable=SC2086
start_v4vd $strict || { echo "FAIL v4vd did not start"; cat "$dir/v4vd.log"; exit 1; }
as_pg() { runuser -u postgres -- "$@"; }
now() { date +%s.%N; }
stream_bytes() {
	"$V4V" status --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["hypervisor"]["stream_bytes"])'
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
max() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (a > b ? a : b) }'; }

# step MODE NAME LIMIT CMD...: run CMD for at most LIMIT s; its time in
# $dir/MODE.NAME.time ("timeout" if killed), its output in MODE.NAME.out.
step() {
	mode=$1 name=$2 limit=$3
	shift 3
	t0=$(now)
	timeout -k 3 "$limit" "$@" >"$dir/$mode.$name.out" 2>&1
	rc=$?
	t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "timeout" >"$dir/$mode.$name.time"
		bad "$mode: $name did not finish within $limit s (killed after $t s)"
	elif [ "$rc" -ne 0 ]; then
		echo "exit$rc" >"$dir/$mode.$name.time"
		bad "$mode: $name failed (exit $rc, after $t s)"
	else
		echo "$t" >"$dir/$mode.$name.time"
		ok "$mode: $name ($t s, limit $limit s)"
		return 0
	fi
	tail -n 5 "$dir/$mode.$name.out" | sed 's/^/    /'
	return 1
}
# After a failed start: wait (about 10 s at most) for the server to be
# ready anyway, asking as the clients will (CMD...), so that the later
# steps show their own problems.
ready() {
	for _ in $(seq 8); do
		timeout 3 "$@" "$bin/pg_isready" -q -t 1 && { echo "    (the server was ready after all)"; return; }
		sleep 0.2
	done
	echo "    (the server is still not ready)"
}
# The V4V limit of a step: twice its TCP time, at least $floor.
limit() {
	t=$(cat "$dir/tcp.$1.time")
	case $t in [0-9]*) max "$(awk -v t="$t" 'BEGIN { print 2 * t }')" "$floor" ;; *) echo "$floor" ;; esac
}

# One run.  MODE tcp: generous limits (these are hangs, not speed); MODE
# v4v: the server and the clients through `v4v run`.
scenario() {
	mode=$1
	mkdir "$dir/$mode"
	cp -a "$dir/template" "$dir/$mode/data"
	mkdir "$dir/$mode/sock"
	chown postgres "$dir/$mode" "$dir/$mode/sock"
	port=$(free_port)
	opts="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir/$mode/sock -c fsync=off"
	export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
	srv="" cli=""
	if [ "$mode" = v4v ]; then
		srv="$V4V run -d pg-server --"
		cli="$V4V run -d pg-client --"
		l_start=$(limit start) l_init=$(limit init) l_select=$(limit select) l_stop=$(limit stop)
		base=$(stream_bytes)
	else
		l_start=90 l_init=120 l_select=$((secs + 60)) l_stop=90
	fi
	# shellcheck disable=SC2086
	{
		step "$mode" start "$l_start" runuser -u postgres -- $srv "$bin/pg_ctl" -D "$dir/$mode/data" \
			-l "$dir/$mode/server.log" -w -o "$opts" start || ready $cli
		step "$mode" init "$l_init" $cli pgbench -i -s 1
		step "$mode" select "$l_select" $cli pgbench -S -c 4 -j 2 -T "$secs"
	}
	sed -n 's/^tps = \([0-9]*\).*/\1/p' "$dir/$mode.select.out" >"$dir/$mode.tps"
	step "$mode" stop "$l_stop" runuser -u postgres -- "$bin/pg_ctl" -D "$dir/$mode/data" stop -m fast
	if [ "$mode" = v4v ]; then
		carried=$(($(stream_bytes) - base))
		check "v4v: V4V carried the clients' traffic ($carried stream bytes)" [ "$carried" -ge 1000000 ]
	fi
	if [ "$fails" -gt 0 ]; then
		echo "    server log, last lines:"
		tail -n 8 "$dir/$mode/server.log" | sed 's/^/    /'
	fi
}

mkdir "$dir/template"
chown postgres "$dir/template"
as_pg "$bin/initdb" -D "$dir/template" -U postgres --auth=trust --no-sync >"$dir/initdb.out" 2>&1 ||
	{ bad "initdb"; cat "$dir/initdb.out"; exit 1; }
scenario tcp
if [ "$fails" -gt 0 ]; then
	echo "FAIL the plain TCP run failed: nothing to compare with"
	exit 1
fi
scenario v4v

printf '\n%-26s %12s %12s %12s\n' "step" "tcp" "v4v${strict:+ strict}" "v4v limit"
for s in start init select stop; do
	case $s in
	start) label="pg_ctl start -w" ;; init) label="pgbench -i -s 1" ;;
	select) label="pgbench -S -T $secs" ;; stop) label="pg_ctl stop -m fast" ;;
	esac
	printf '%-26s %12s %12s %12s\n' "$label" "$(cat "$dir/tcp.$s.time")" \
		"$(cat "$dir/v4v.$s.time")" "$(limit "$s")"
done
printf '%-26s %12s %12s\n' "pgbench -S tps" "$(cat "$dir/tcp.tps")" "$(cat "$dir/v4v.tps")"
t_done
