# SPDX-License-Identifier: MIT
# poll, epoll and select on a V4V socket with nothing to read: a signal whose
# handler raises must end the wait at once (EINTR), also while the
# interposer is still polling the ring (V4V_POLL_US larger than the
# timer).  Usage: eintr.py PORT; prints one line per wait, exit 0 if all
# were interrupted in time.
import select
import signal
import socket
import sys
import time

port = int(sys.argv[1])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(1)
cli = socket.create_connection(("127.0.0.1", port))
conn, _ = srv.accept()


class Alarm(Exception):
    pass


def handler(sig, frame):
    raise Alarm()


signal.signal(signal.SIGALRM, handler)
bad = 0
for kind in ("poll", "epoll", "select"):
    signal.setitimer(signal.ITIMER_REAL, 0.03)
    t0 = time.monotonic()
    try:
        if kind == "poll":
            p = select.poll()
            p.register(conn, select.POLLIN)
            p.poll(3000)
        elif kind == "select":
            select.select([conn], [], [], 3)
        else:
            e = select.epoll()
            e.register(conn.fileno(), select.EPOLLIN)
            e.poll(3)
        print(kind, "returned without the signal")
        bad += 1
    except Alarm:
        took = time.monotonic() - t0
        print("%s interrupted after %.3f s" % (kind, took))
        bad += took > 0.5
sys.exit(1 if bad else 0)
