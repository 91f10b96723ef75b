#!/bin/sh
# test_apps.sh SCENARIO: real, unmodified programs through the interposer.
# Each scenario runs a program pair over V4V (`v4v run`) and over the
# kernel's TCP, wants the same results both ways, and checks v4vd's stream
# byte counter to prove V4V carried the traffic (or, for the fallback
# cases, that it did not).  Exit 77 (skipped) if a program is missing.
set -u
: "${V4VD:?}" "${V4V:?}" "${V4V_PRELOAD_LIB:?}"
scenario=$1
. "$(dirname "$0")/../lib.sh"
t_setup v4vapps
chmod 755 "$dir" # nginx's worker, as nobody, must reach the hypervisor
pids=""
netns=""

cleanup() {
	# Each server runs in its own session: its whole tree goes.
	for p in $pids; do kill -TERM "-$p" 2>/dev/null; done
	sleep 0.3
	for p in $pids; do kill -KILL "-$p" 2>/dev/null; done
	[ -n "$hv" ] && kill "$hv" 2>/dev/null
	wait 2>/dev/null
	for n in $netns; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$dir"
}
need() {
	for p; do
		command -v "$p" >/dev/null 2>&1 && continue
		echo "SKIP: $p is not installed (sh scripts/deps.sh installs it)"
		exit 77
	done
}
bg() { setsid "$@" </dev/null >>"$dir/servers.log" 2>&1 & pids="$pids $!"; }
v4vrun() { # NAME CMD...: CMD as domain NAME, through the interposer
	name=$1
	shift
	"$V4V" run -d "$name" -- "$@"
}
# Payload bytes v4vd has seen over stream connections, in all.
stream_bytes() {
	"$V4V" status --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["hypervisor"]["stream_bytes"])'
}
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_listen() { # PORT [NETNS]
	listening "$@" && return 0
	bad "a server listens on port $1"
	cat "$dir/servers.log"
	return 1
}
# V4V carried at least N more bytes than at the mark.
mark() { base=$(stream_bytes); }
carried() { [ $(($(stream_bytes) - base)) -ge "$1" ]; }
not_carried() { [ "$(stream_bytes)" -eq "$base" ]; }

# SCENARIO-strict: the same against v4vd --strict (no shared memory).
strict=""
case $scenario in *-strict) strict=--strict; scenario=${scenario%-strict} ;; esac
# shellcheck disable=SC2086
start_v4vd $strict
head -c 3000000 /dev/urandom >"$dir/blob"

t_conform() {
	need "$CONFORM"
	mark
	# Polling waits longer than conform's late answers (0.5 ms), so
	# that readiness found in rings alone is tested too.
	v4vrun conform env V4V_POLL_US=2000 V4V_POLL_MAX_US=4000 "$CONFORM" \
		>"$dir/v4v.out" 2>&1
	check "conformance over V4V" [ $? -eq 0 ]
	bytes=$(sed -n 's/^bytes //p' "$dir/v4v.out")
	check "conformance moved its bytes over V4V ($bytes)" carried "${bytes:-1}"
	"$CONFORM" >"$dir/tcp.out" 2>&1
	check "conformance over TCP" [ $? -eq 0 ]
	check "same checks, same results both ways" \
		cmp -s "$dir/v4v.out" "$dir/tcp.out"
	diff "$dir/tcp.out" "$dir/v4v.out" | head -20
}

# An event loop (epoll level- and edge-triggered, poll, select) echoing for 8
# clients: over TCP, and over V4V with the interposer's polling waits on
# (the default) and off; every byte echoed, no wake-up lost, few stale.
t_evloop() {
	need "$EVLOOP"
	for m in epoll-lt epoll-et poll select; do
		p=$(free_port)
		"$EVLOOP" "$p" "$m" 8 400 >"$dir/ev.out" 2>&1
		check "$m over TCP" [ $? -eq 0 ]
		for us in 0 50; do
			p=$(free_port)
			mark
			V4V_POLL_US=$us v4vrun "ev$us$m" "$EVLOOP" "$p" "$m" 8 400 \
				>"$dir/ev.out" 2>&1
			check "$m over V4V, V4V_POLL_US=$us" [ $? -eq 0 ]
			check "$m moved its bytes over V4V" carried 100000
			grep -h "server:" "$dir/ev.out"
		done
	done
	# A signal ends a wait, also while the ring is still being polled.
	V4V_POLL_US=100000 V4V_POLL_MAX_US=100000 v4vrun eintr python3 \
		"$(dirname "$0")/eintr.py" "$(free_port)" >"$dir/eintr.out" 2>&1
	check "a signal interrupts poll, epoll_wait and select while polling" [ $? -eq 0 ]
	cat "$dir/eintr.out"
}

t_socat() {
	need socat
	port=$(free_port)
	# fork: one server process per connection.
	bg "$V4V" run -d socat-srv -- socat TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr,fork EXEC:cat
	wait_listen "$port" || return
	mark
	for i in 1 2 3; do
		v4vrun socat-cli socat -t 10 - TCP:127.0.0.1:"$port" <"$dir/blob" >"$dir/echo.$i"
		check "socat echo $i over V4V" cmp -s "$dir/blob" "$dir/echo.$i"
	done
	check "V4V carried the echoes" carried 9000000
	mark
	socat -t 10 - TCP:127.0.0.1:"$port" <"$dir/blob" >"$dir/echo.tcp"
	check "a plain TCP client still reaches the server" cmp -s "$dir/blob" "$dir/echo.tcp"
	check "... over the kernel" not_carried
}

t_http() {
	need python3 curl
	port=$(free_port)
	bg "$V4V" run -d web -- python3 -m http.server "$port" --bind 127.0.0.1 --directory "$dir"
	wait_listen "$port" || return
	mark
	v4vrun curl curl -sf -o "$dir/got" "http://127.0.0.1:$port/blob"
	check "curl over V4V" cmp -s "$dir/blob" "$dir/got"
	check "V4V carried the body" carried 3000000
	curl -sf -o "$dir/got.tcp" "http://127.0.0.1:$port/blob"
	check "curl over TCP, same body" cmp -s "$dir/blob" "$dir/got.tcp"
}

t_redis() {
	need redis-server redis-benchmark redis-cli
	port=$(free_port)
	bg "$V4V" run -d redis -- redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no
	wait_listen "$port" || return
	mark
	v4vrun rcli redis-cli -p "$port" set k "over v4v" >/dev/null
	check "redis-cli GET over V4V" [ "$(v4vrun rcli redis-cli -p "$port" get k)" = "over v4v" ]
	check "redis-cli GET over TCP" [ "$(redis-cli -p "$port" get k)" = "over v4v" ]
	v4vrun rbench redis-benchmark -p "$port" -q -n 2000 >"$dir/v4v.rb" 2>&1
	redis-benchmark -p "$port" -q -n 2000 >"$dir/tcp.rb" 2>&1
	tr '\r' '\n' <"$dir/v4v.rb" | grep "requests per second" | cut -d: -f1 >"$dir/v4v.tests"
	tr '\r' '\n' <"$dir/tcp.rb" | grep "requests per second" | cut -d: -f1 >"$dir/tcp.tests"
	check "redis-benchmark: every test completed over V4V ($(wc -l <"$dir/v4v.tests"))" \
		[ "$(wc -l <"$dir/v4v.tests")" -ge 15 ]
	check "redis-benchmark: same tests over TCP" cmp -s "$dir/v4v.tests" "$dir/tcp.tests"
	check "V4V carried the benchmark" carried 1000000
}

t_nginx() {
	need nginx curl wrk
	port=$(free_port)
	mkdir -p "$dir/www" "$dir/ngx"
	cp "$dir/blob" "$dir/www/blob"
	# Two workers accept on one inherited listener (and ask for
	# EPOLLEXCLUSIVE), as nginx's default configuration does.
	sh "$(dirname "$0")/nginx_conf.sh" "$dir/ngx" "$port" "$dir/www" 2
	bg "$V4V" run -d nginx -- nginx -c "$dir/ngx/nginx.conf" -e stderr
	wait_listen "$port" || return
	mark
	v4vrun curl curl -sf -o "$dir/got" "http://127.0.0.1:$port/blob"
	check "nginx to curl over V4V" cmp -s "$dir/blob" "$dir/got"
	check "V4V carried it" carried 3000000
	curl -sf -o "$dir/got.tcp" "http://127.0.0.1:$port/blob"
	check "nginx to curl over TCP, same body" cmp -s "$dir/blob" "$dir/got.tcp"
	v4vrun wrk wrk -t1 -c4 -d"${WRK_SECS:-1}" "http://127.0.0.1:$port/blob" >"$dir/wrk" 2>&1
	cat "$dir/wrk"
	check "wrk over V4V: requests done" grep -q "Requests/sec" "$dir/wrk"
	check "wrk over V4V: no non-2xx answers" sh -c "! grep -q Non-2xx $dir/wrk"
}

t_iperf() {
	need iperf3
	port=$(free_port)
	bg "$V4V" run -d iperf-srv -- iperf3 -s -p "$port"
	wait_listen "$port" || return
	mark
	v4vrun iperf-cli iperf3 -c 127.0.0.1 -p "$port" -t 1 >"$dir/v4v.ip" 2>&1
	check "iperf3 over V4V" grep -q receiver "$dir/v4v.ip"
	check "V4V carried it" carried 10000000
	iperf3 -c 127.0.0.1 -p "$port" -t 1 >"$dir/tcp.ip" 2>&1
	check "iperf3 over TCP" grep -q receiver "$dir/tcp.ip"
	grep -h receiver "$dir/v4v.ip" "$dir/tcp.ip"
}

t_sockperf() {
	need sockperf
	port=$(free_port)
	bg "$V4V" run -d sp-srv -- sockperf server --tcp -i 127.0.0.1 -p "$port"
	wait_listen "$port" || return
	mark
	# sockperf sizes its table of send times for its assumed top rate
	# (--mps=max); V4V round trips outrun it ("_seqN > m_maxSequenceNo"),
	# so name a rate above any we reach.  Same flag over TCP.
	v4vrun sp-cli sockperf ping-pong --tcp -i 127.0.0.1 -p "$port" -t 1 --mps=5000000 >"$dir/pp" 2>&1
	grep -q "Summary: Latency" "$dir/pp" || tail -20 "$dir/pp"
	check "sockperf ping-pong over V4V" grep -q "Summary: Latency" "$dir/pp"
	v4vrun sp-cli sockperf throughput --tcp -i 127.0.0.1 -p "$port" -t 1 -m 1400 >"$dir/tp" 2>&1
	check "sockperf throughput over V4V" grep -q "Summary: BandWidth" "$dir/tp"
	check "V4V carried it" carried 1000000
	sockperf ping-pong --tcp -i 127.0.0.1 -p "$port" -t 1 --mps=5000000 >"$dir/pp.tcp" 2>&1
	check "sockperf ping-pong over TCP" grep -q "Summary: Latency" "$dir/pp.tcp"
	grep -h "Summary" "$dir/pp" "$dir/tp" "$dir/pp.tcp"
}

# Two network namespaces with no interface up at all: only V4V joins them.
t_netns() {
	need socat ip
	a=v4vt-a-$$ b=v4vt-b-$$
	ip netns add "$a" && ip netns add "$b" || { echo "SKIP: no netns"; exit 77; }
	netns="$a $b"
	bg ip netns exec "$a" "$V4V" run -d ns-srv --addr 10.77.0.2 -- \
		socat TCP-LISTEN:7000,fork EXEC:cat
	wait_listen 7000 "$a" || return
	mark
	echo "across namespaces" | ip netns exec "$b" "$V4V" run -d ns-cli -- \
		socat -t 5 - TCP:10.77.0.2:7000 >"$dir/ns.out" 2>&1
	check "client in another namespace reaches 10.77.0.2 over V4V" \
		grep -qx "across namespaces" "$dir/ns.out"
	check "V4V carried it" carried 17
	echo x | ip netns exec "$b" socat -t 5 - TCP:10.77.0.2:7000 >"$dir/ns.tcp" 2>&1
	check "without the interposer the same command fails" \
		grep -q "unreachable" "$dir/ns.tcp"
	check "a second domain may not take the declared address" sh -c \
		"! ip netns exec $b $V4V run --addr 10.77.0.2 -- true 2>/dev/null"
}

# Peers that are not V4V domains stay on the kernel.
t_fallback() {
	need python3 curl
	port=$(free_port)
	bg python3 -m http.server "$port" --bind 127.0.0.1 --directory "$dir"
	wait_listen "$port" || return
	mark
	"$V4V" run -v -d fb -- curl -sf -o "$dir/got" "http://127.0.0.1:$port/blob" 2>"$dir/fb.log"
	check "a V4V client reaches a plain server" cmp -s "$dir/blob" "$dir/got"
	check "over the kernel" not_carried
	check "V4V_DEBUG says why" grep -q "no V4V domain listens there" "$dir/fb.log"
	"$V4V" run -d fb -- curl -s --connect-timeout 1 -o /dev/null http://192.0.2.1:9/
	rc1=$?
	curl -s --connect-timeout 1 -o /dev/null http://192.0.2.1:9/
	rc2=$?
	check "a remote address fails as it does without V4V ($rc1 = $rc2)" [ "$rc1" -eq "$rc2" ]
	V4V_PRELOAD=off "$V4V" run -d off -- curl -sf -o "$dir/got2" "http://127.0.0.1:$port/blob"
	check "V4V_PRELOAD=off leaves all to the kernel" cmp -s "$dir/blob" "$dir/got2"
}

# A listener kept open across exec is the kernel listener for the new
# program, which serves with it.
t_exec() {
	need python3 curl
	port=$(free_port)
	cat >"$dir/exec.py" <<'PY'
import os, socket, sys
if len(sys.argv) == 3:      # after exec: serve one request on the fd
    s = socket.socket(fileno=int(sys.argv[1]))
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nexec!")
    c.close()
    sys.exit(0)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
os.set_inheritable(s.fileno(), True)
os.execv(sys.executable, [sys.executable, sys.argv[0], str(s.fileno()), "child"])
PY
	bg "$V4V" run -d execsrv -- python3 "$dir/exec.py" "$port"
	wait_listen "$port" || return
	check "a listener survives exec" sh -c \
		"[ \"\$(curl -s --max-time 5 http://127.0.0.1:$port/)\" = exec! ]"
	# CPython's subprocess runs its children with vfork: they must not
	# end the server's V4V sockets.
	port=$(free_port)
	cat >"$dir/spawn.py" <<'PY'
import socket, subprocess, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(8)
while True:
    c, _ = l.accept()
    tag = subprocess.run(["echo", "spawned"], capture_output=True).stdout
    c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(tag) + tag)
    c.close()
PY
	bg "$V4V" run -d spawnsrv -- python3 "$dir/spawn.py" "$port"
	wait_listen "$port" || return
	mark
	for i in 1 2 3; do
		check "a server that runs subprocess serves request $i over V4V" sh -c \
			"[ \"\$($V4V run -d spawncli -- curl -s --max-time 5 http://127.0.0.1:$port/)\" = spawned ]"
	done
	check "V4V carried them" carried 100
	# Python's CGI server forks, and the script it execs reads the
	# request body from the connection while the server waits.
	need curl
	mkdir -p "$dir/cgi/cgi-bin"
	chmod 755 "$dir/cgi" "$dir/cgi/cgi-bin"
	cat >"$dir/cgi/cgi-bin/echo.py" <<'PY'
#!/usr/bin/python3
import os, sys
n = int(os.environ.get("CONTENT_LENGTH") or 0)
body = sys.stdin.buffer.read(n)
sys.stdout.buffer.write(b"Content-Type: text/plain\r\n\r\n" + body)
PY
	chmod 755 "$dir/cgi/cgi-bin/echo.py"
	head -c 200000 "$dir/blob" | od -An -tx1 | tr -d ' \n' | head -c 100000 >"$dir/body"
	port=$(free_port)
	bg "$V4V" run -d cgisrv -- python3 -m http.server --cgi "$port" \
		--bind 127.0.0.1 --directory "$dir/cgi"
	wait_listen "$port" || return
	mark
	v4vrun cgicli curl -s --max-time 10 --data-binary @"$dir/body" \
		"http://127.0.0.1:$port/cgi-bin/echo.py" >"$dir/cgi.v4v"
	check "a CGI script reads a POST body over V4V" cmp -s "$dir/body" "$dir/cgi.v4v"
	check "V4V carried it" carried 100000
	curl -s --max-time 10 --data-binary @"$dir/body" \
		"http://127.0.0.1:$port/cgi-bin/echo.py" >"$dir/cgi.tcp"
	check "... and over TCP" cmp -s "$dir/body" "$dir/cgi.tcp"
}

# Servers that hand the connection to a program they exec (relay.c): git
# daemon runs `git daemon --serve`, then upload-pack or receive-pack, on
# the connection as standard input and output; socat's EXEC with nofork
# execs the program in its own place.  And a client whose child writes on
# the connection while it reads: git push runs pack-objects with the
# connection as its output.
t_gitd() {
	need git socat
	port=$(free_port)
	git init -q --bare --initial-branch=main "$dir/repo.git"
	git init -q "$dir/src"
	cp "$dir/blob" "$dir/src/blob"
	git -C "$dir/src" add blob
	git -C "$dir/src" -c user.email=t@v4v -c user.name=t commit -qm one
	git -C "$dir/src" push -q "$dir/repo.git" HEAD:refs/heads/main
	bg "$V4V" run -d gitd -- git daemon --reuseaddr --export-all \
		--enable=receive-pack --base-path="$dir" --listen=127.0.0.1 \
		--port="$port"
	wait_listen "$port" || return
	mark
	v4vrun git-cli git clone -q "git://127.0.0.1:$port/repo.git" "$dir/v4v.clone"
	check "git clone over V4V (git daemon execs upload-pack)" \
		cmp -s "$dir/blob" "$dir/v4v.clone/blob"
	check "V4V carried the pack" carried 1000000
	git clone -q "git://127.0.0.1:$port/repo.git" "$dir/tcp.clone"
	check "git clone over TCP, same tree" cmp -s "$dir/blob" "$dir/tcp.clone/blob"
	head -c 1000000 /dev/urandom >"$dir/v4v.clone/more"
	git -C "$dir/v4v.clone" add more
	git -C "$dir/v4v.clone" -c user.email=t@v4v -c user.name=t commit -qm two
	mark
	v4vrun git-cli git -C "$dir/v4v.clone" push -q origin HEAD:refs/heads/main
	check "git push over V4V (its pack-objects writes, receive-pack reads)" \
		[ "$(git -C "$dir/repo.git" rev-parse main)" = \
		  "$(git -C "$dir/v4v.clone" rev-parse HEAD)" ]
	check "V4V carried the push" carried 1000000
	check "git daemon logged no error" sh -c "! grep -q 'with error' '$dir/servers.log'"
	port=$(free_port)
	bg "$V4V" run -d socat-exec -- socat \
		TCP-LISTEN:"$port",bind=127.0.0.1,reuseaddr,fork EXEC:cat,nofork
	wait_listen "$port" || return
	mark
	v4vrun socat-cli socat -t 10 - TCP:127.0.0.1:"$port" <"$dir/blob" >"$dir/echo"
	check "socat EXEC:cat,nofork echoes over V4V" cmp -s "$dir/blob" "$dir/echo"
	check "V4V carried the echo" carried 3000000
	socat -t 10 - TCP:127.0.0.1:"$port" <"$dir/blob" >"$dir/echo.tcp"
	check "... and over TCP" cmp -s "$dir/blob" "$dir/echo.tcp"
}

# v4v run as a user meets it: help, usage errors, exit codes.
t_run() {
	expect() { # WANT NAME CMD...
		want=$1 name=$2
		shift 2
		"$@" >"$dir/out" 2>"$dir/err"
		rc=$?
		check "$name (exit $rc)" [ "$rc" -eq "$want" ]
	}
	expect 0 "v4v run --help" "$V4V" run --help
	check "the help names the options" grep -q -- "--addr" "$dir/out"
	expect 2 "no command" "$V4V" run
	expect 2 "not an address" "$V4V" run --addr 300.1.1.1 -- true
	expect 127 "command not found" "$V4V" run -- /nonexistent/program
	expect 126 "command not executable" "$V4V" run -- /etc/passwd
	expect 7 "the command's exit status" "$V4V" run -- sh -c 'exit 7'
	expect 143 "killed by SIGTERM: 128+15" "$V4V" run -- sh -c 'kill -TERM $$'
	expect 3 "no hypervisor" env V4V_SOCKET="$dir/none.sock" "$V4V" run -- true
	check "says so" grep -q "cannot reach v4vd" "$dir/err"
	bg "$V4V" run -d taken -- sleep 30
	sleep 0.3
	expect 125 "a domain name in use" "$V4V" run -d taken -- true
	expect 125 "no interposer" env V4V_PRELOAD_LIB=/nonexistent "$V4V" run -- true
	check "the program is in the domain" sh -c \
		"$V4V run -d member -- sh -c '$V4V status' | grep -q member"
}

# bench/servers.sh with tiny parameters (not a measurement): every redis
# row measured over all three transports, with CPU per request where
# cgroups account for it, and V4V carrying the V4V rows.
t_servers() {
	need redis-server redis-benchmark
	mark
	sh "$(dirname "$0")/../../bench/servers.sh" --only redis --reps 1 \
		--seconds 1 >"$dir/srv.out" 2>"$dir/srv.err"
	check "bench/servers.sh exits 0" [ $? -eq 0 ]
	n=$(grep -cE '^\| redis-(get|set)-c(1|50) \| (v4v|tcp|unix) \| [1-9][0-9]* \| [0-9.]+ \(p50\)' "$dir/srv.out")
	check "12 redis rows with figures ($n)" [ "$n" -eq 12 ]
	check "V4V carried the V4V rows" carried 500000
	if [ -d /sys/fs/cgroup/cpuacct ] || [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		check "CPU per request measured" grep -qE \
			'^\| redis-get-c1 \| v4v \| [0-9]+ \| [0-9.]+ \(p50\) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|' "$dir/srv.out"
	fi
	[ "$fails" -eq 0 ] || cat "$dir/srv.out" "$dir/srv.err"
}

case $scenario in
run | conform | evloop | socat | http | redis | nginx | iperf | sockperf | netns | fallback | exec | gitd | servers)
	"t_$scenario" ;;
*) echo "unknown scenario $scenario"; exit 2 ;;
esac
t_done
