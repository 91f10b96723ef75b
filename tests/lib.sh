# Shared by the shell tests (and bench/apps.sh): source it, then call
# t_setup.  POSIX sh.
#
#   t_setup PREFIX   a private directory $dir (removed at exit, with the
#                    v4vd in $hv killed), V4V_SOCKET inside it, fails=0.
#                    A script with more to clean defines cleanup() after.
#   start_v4vd [ARG...]   v4vd in the foreground on $V4V_SOCKET, log in
#                    $dir/v4vd.log; returns once it answers (`$V4V
#                    status`, or the socket exists if $V4V is unset).
#   ok NAME / bad NAME / check NAME CMD... / expect_rc WANT NAME CMD...
#   t_done           print the failure count; exit status 0 if none.
#   listening PORT [NETNS]   0 once something listens on TCP PORT (in
#                    NETNS), 1 after about 10 s.

t_setup() {
	dir=$(mktemp -d "/tmp/$1.XXXXXX") || exit 1
	export V4V_SOCKET="$dir/ctl.sock"
	fails=0
	hv=""
	trap cleanup EXIT
}

cleanup() {
	[ -n "$hv" ] && kill "$hv" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$dir"
}

start_v4vd() {
	"$V4VD" --foreground "$@" --socket "$V4V_SOCKET" 2>"$dir/v4vd.log" &
	hv=$!
	for _ in $(seq 100); do
		if [ -n "${V4V:-}" ]; then
			"$V4V" status >/dev/null 2>&1 && return 0
		else
			[ -S "$V4V_SOCKET" ] && return 0
		fi
		sleep 0.05
	done
	return 1
}

ok()  { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

check() { # NAME CMD...: ok if CMD succeeds
	name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}

expect_rc() { # WANT NAME CMD...: ok if CMD exits WANT; output in $dir/out, err
	want=$1 name=$2
	shift 2
	"$@" >"$dir/out" 2>"$dir/err"
	rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$name"; else
		bad "$name (exit $rc, wanted $want)"; cat "$dir/err"; fi
}

t_done() {
	echo "$fails failure(s)"
	[ "$fails" -eq 0 ]
}

listening() { # PORT [NETNS]
	for _ in $(seq 200); do
		if [ -n "${2:-}" ]; then
			ip netns exec "$2" ss -ltn "sport = :$1" | grep -q LISTEN &&
				return 0
		else
			ss -ltn "sport = :$1" | grep -q LISTEN && return 0
		fi
		sleep 0.05
	done
	return 1
}
