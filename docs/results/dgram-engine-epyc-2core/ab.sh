#!/bin/sh
# A/B: datagram ping-pong, old build (/tmp/oldwt, 5a21487) against new
# (this tree), each with its own v4vd: ab.sh [--strict | direct].
mode=${1:---strict}; [ "$mode" = direct ] && mode=
for round in 1 2 3; do
  for v in old new; do
    if [ $v = old ]; then B=/tmp/oldwt/build; else B=/work/main/build; fi
    sock=/tmp/dgab-$v.sock; rm -f $sock
    $B/src/hv/v4vd --foreground --socket $sock $mode >/tmp/dgab-$v.log 2>&1 &
    pid=$!
    sleep 0.5
    echo "== round $round $v $mode"
    V4V_SOCKET=$sock $B/src/tools/v4v bench dgram -q --sizes 1:16384 --iters 3000 2>&1 | grep -v "^$"
    kill $pid; wait $pid 2>/dev/null
  done
done
