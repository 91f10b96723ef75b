#!/bin/sh
# The v4v tool and v4vd as a user meets them: help, usage errors and their
# exit codes, cat in both directions, status (table and JSON), viptables.
set -u
: "${V4VD:?set V4VD to the v4vd binary}" "${V4V:?set V4V to the v4v binary}"
. "$(dirname "$0")/../lib.sh"
t_setup v4vcli

expect_rc 0 "v4vd --help" "$V4VD" --help
grep -q -- "--strict" "$dir/out" || bad "v4vd --help mentions --strict"
expect_rc 2 "v4vd bad option" "$V4VD" --bogus
expect_rc 2 "v4vd bad policy" "$V4VD" --policy maybe
grep -q "ACCEPT or REJECT" "$dir/err" || bad "v4vd says what a policy is"
expect_rc 0 "v4v --help" "$V4V" --help
expect_rc 2 "v4v unknown command" "$V4V" frobnicate
expect_rc 3 "v4v status without v4vd" "$V4V" status
grep -q "is v4vd running" "$dir/err" || bad "advice when v4vd is down"

start_v4vd
expect_rc 0 "v4v status" "$V4V" status
grep -q "direct mode" "$dir/out" || bad "status shows the mode"
expect_rc 1 "v4vd refuses a second instance" "$V4VD" -f --socket "$V4V_SOCKET"
grep -q "already serving" "$dir/err" || bad "says another v4vd serves"
expect_rc 2 "cat takes -l or an address, not both" "$V4V" cat -l 7 1:7
expect_rc 2 "cat bad port" "$V4V" cat -u -l 7x

# Datagrams through cat, receiver named so the sender can address it.
"$V4V" cat -u -l 7 -c 3 -n srv >"$dir/recv" 2>"$dir/recv.err" &
rcv=$!
for _ in $(seq 100); do "$V4V" status | grep -q " srv " && break; sleep 0.05; done
printf 'one\ntwo\nthree\n' | "$V4V" cat -u srv:7
wait $rcv
if [ "$(cat "$dir/recv")" = "$(printf 'one\ntwo\nthree')" ]; then ok "cat delivers lines"; else
	bad "cat delivers lines"; cat "$dir/recv" "$dir/recv.err"; fi
expect_rc 1 "cat to nowhere is refused" sh -c "echo x | '$V4V' cat -u 1:999"
grep -q "refused" "$dir/err" || bad "refusal is explained"
expect_rc 2 "cat to an unknown name" sh -c "echo x | '$V4V' cat -u nosuch:7"

# A stream in both directions, with a half-close at the end of input.
head -c 3000000 /dev/urandom >"$dir/big"
printf 'reply\n' | "$V4V" cat -l 80 -n web >"$dir/got" 2>"$dir/web.err" &
srv=$!
for _ in $(seq 100); do "$V4V" status | grep -q " web " && break; sleep 0.05; done
"$V4V" cat web:80 <"$dir/big" >"$dir/back"
wait $srv
cmp -s "$dir/big" "$dir/got" && ok "stream cat carries 3 MB intact" || bad "stream cat carries 3 MB intact"
[ "$(cat "$dir/back")" = "reply" ] && ok "stream cat carries the reply" || bad "stream cat carries the reply"

expect_rc 0 "status --json" "$V4V" status --json
python3 -c "
import json,sys
d=json.load(open('$dir/out'))
h=d['hypervisor']
assert h['tx_msgs']>=3 and h['norings']>=1, h
assert isinstance(d['domains'],list) and isinstance(d['rings'],list)
" && ok "status JSON parses and counts" || bad "status JSON parses and counts"

# viptables
expect_rc 0 "viptables -A" "$V4V" viptables -A -s '*' -d 'srv:7' -j REJECT
expect_rc 0 "viptables -I 1" "$V4V" viptables -I 1 -s 5 -d '*:80' -j accept
expect_rc 0 "viptables -L -v" "$V4V" viptables -L -v
sed -n 4p "$dir/out" | grep -q "REJECT" || bad "rule 2 listed second"
sed -n 3p "$dir/out" | grep -q "ACCEPT" || bad "inserted rule listed first"
expect_rc 2 "viptables needs -j" "$V4V" viptables -A -s 1
expect_rc 2 "viptables bad address" "$V4V" viptables -A -s '1:x' -j REJECT
expect_rc 1 "viptables -D past the end" "$V4V" viptables -D 9
grep -q "no rule number 9" "$dir/err" || bad "explains the missing rule"
"$V4V" cat -u -l 7 -n srv -c 1 >/dev/null 2>&1 &
rcv=$!
for _ in $(seq 100); do "$V4V" status | grep -q " srv " && break; sleep 0.05; done
expect_rc 1 "REJECT refuses delivery" sh -c "echo x | '$V4V' cat -u srv:7"
"$V4V" status --json | python3 -c "
import json,sys; assert json.load(sys.stdin)['hypervisor']['rejects']>=1" \
	&& ok "rejection counted" || bad "rejection counted"
expect_rc 0 "viptables -D 2" "$V4V" viptables -D 2
expect_rc 0 "delivery after delete" sh -c "echo x | '$V4V' cat -u srv:7"
wait $rcv
expect_rc 0 "viptables -P REJECT" "$V4V" viptables -P REJECT
"$V4V" viptables -L | grep -q "Policy: REJECT" && ok "policy shown" || bad "policy shown"
expect_rc 0 "viptables -F" "$V4V" viptables -F
"$V4V" viptables -L | grep -q "^ *1 " && bad "flush left rules" || ok "flush"

# VMs declared and removed while v4vd runs (no QEMU here: a client that
# holds the VM's socket stands in for one).
expect_rc 0 "v4v vm -h" "$V4V" vm -h
expect_rc 0 "v4v vm add" "$V4V" vm add g9 4M
grep -q "ivshmem-doorbell" "$dir/out" && ok "vm add says how to start QEMU" ||
	bad "vm add says how to start QEMU"
vmsock=$(sed -n 's/.*path=\([^,]*\),id=v4v.*/\1/p' "$dir/out")
[ -S "$vmsock" ] && [ "$(stat -c %a "$vmsock")" = 600 ] &&
	ok "the VM's socket is there, mode 0600" || bad "the VM's socket ($vmsock)"
"$V4V" status | grep -q " g9 \[vm\]" && ok "status lists the new VM" ||
	bad "status lists the new VM"
expect_rc 1 "vm add of a name in use" "$V4V" vm add g9
grep -q "exists already" "$dir/err" || bad "says the name is taken"
expect_rc 1 "vm add with a region not a power of two" "$V4V" vm add g8 3M
grep -q "power of two" "$dir/err" || bad "says what a region may be"
expect_rc 2 "vm add with a bad name" "$V4V" vm add 9x
expect_rc 2 "vm add with a bad size" "$V4V" vm add g8 lots
expect_rc 1 "vm del of no VM" "$V4V" vm del nosuch
python3 -c "
import socket, subprocess, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect('$vmsock')
time.sleep(0.3)
busy = subprocess.run(['$V4V', 'vm', 'del', 'g9'], capture_output=True)
s.close()
time.sleep(0.3)
sys.exit(0 if busy.returncode == 1 and b'QEMU running' in busy.stderr else 1)
" && ok "vm del refuses a VM whose QEMU is connected" ||
	bad "vm del refuses a VM whose QEMU is connected"
expect_rc 0 "vm del once QEMU is gone" "$V4V" vm del g9
"$V4V" status | grep -q " g9 " && bad "the removed VM is gone" ||
	ok "the removed VM is gone"
[ -e "$vmsock" ] && bad "its socket is removed" || ok "its socket is removed"

kill "$hv"
wait "$hv"
rc=$?
hv=""
[ "$rc" -eq 0 ] && ok "v4vd exits 0 on SIGTERM" || bad "v4vd exits 0 on SIGTERM (got $rc)"
grep -q "viptables op" "$dir/v4vd.log" && ok "viptables changes logged" || bad "viptables changes logged"
[ -e "$V4V_SOCKET" ] && bad "socket removed at exit" || ok "socket removed at exit"
t_done
