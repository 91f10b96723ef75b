#!/usr/bin/python3
# cpython.py: CPython's own socket tests (test.test_socket, Debian's
# libpython3.11-testsuite) run plainly and under `v4v run`, compared test
# by test.  Needs V4V and V4V_SOCKET (a running v4vd): test_cpython.sh
# starts one.
#
# Each test class runs in its own process (JOBS at a time), each test with
# a time limit (unittest_runner.py): a test that overruns is a "hang", and
# the rest of its class runs again in a new process.  The plain run comes
# first; under V4V a test's limit is FACTOR times its plain time, at least
# FLOOR seconds, so that hangs cost little.
#
# Prints one line per test whose outcome differs, a summary per mode, and
# exits 1 if a test that passes plainly does not pass under V4V (unless
# listed, with a reason, in the exclusion file), or if v4vd's stream byte
# counter did not grow during the V4V run.  When there are only a few,
# each such test runs once more alone in both modes: one that then fails
# plainly is not counted (the test itself is unreliable here); one that
# then passes under V4V is still counted, as intermittent.
import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "unittest_runner.py")
GOOD = {"pass", "xfail"}  # outcomes that count as passing
env = os.environ.get

ap = argparse.ArgumentParser()
ap.add_argument("--python", default="/usr/bin/python3.11")
ap.add_argument("--module", default="test.test_socket", help="test modules, comma-separated")
ap.add_argument("--match", default="", help="only classes whose name contains this")
ap.add_argument("--jobs", type=int, default=int(env("CONF_JOBS", "2")))
ap.add_argument("--test-timeout", type=float, default=float(env("CONF_TEST_TIMEOUT", "20")),
                help="a test's limit in the plain run")
ap.add_argument("--factor", type=float, default=3, help="V4V limit: FACTOR x plain time ...")
ap.add_argument("--floor", type=float, default=float(env("CONF_V4V_FLOOR", "5")), help="... at least FLOOR s")
ap.add_argument("--class-timeout", type=float, default=120, help="a process's limit")
ap.add_argument("--max-retry", type=int, default=10, help="retry regressions only if at most this many")
ap.add_argument("--exclude", default=os.path.join(HERE, "cpython-exclude.txt"))
args = ap.parse_args()
v4v = os.environ["V4V"]
tmp = tempfile.mkdtemp(prefix="conf-cpython.")
work = os.path.join(tmp, "cwd")  # the tests' files (those of killed tests stay)
os.mkdir(work)


def stream_bytes():
    out = subprocess.run([v4v, "status", "--json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["hypervisor"]["stream_bytes"]


def load_exclusions(path):
    excl = {}
    for n, line in enumerate(open(path) if os.path.exists(path) else [], 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tid, _, reason = line.partition(" ")
        if not reason.strip():
            sys.exit(f"{path}:{n}: {tid}: an exclusion needs a reason")
        excl[tid] = reason.strip()
    return excl


def excluded(tid, excl):
    # A test's id, or its class's, or its module's.
    return next((excl[k] for k in excl if tid == k or tid.startswith(k + ".")), None)


def list_tests():
    """{class id: [test id, ...]} in the loader's order."""
    code = ("import unittest\n"
            "def walk(s):\n"
            "    for t in s:\n"
            "        yield from walk(t) if isinstance(t, unittest.TestSuite) else [t.id()]\n"
            f"print('\\n'.join(walk(unittest.defaultTestLoader.loadTestsFromNames({args.module.split(',')!r}))))\n")
    out = subprocess.run([args.python, "-c", code], capture_output=True, text=True, check=True).stdout
    classes = {}
    for tid in out.split():
        classes.setdefault(tid.rsplit(".", 1)[0], []).append(tid)
    return {c: ids for c, ids in classes.items() if args.match in c}


children = set()  # process groups of the runs in progress


def run_once(mode, names, record, log, limits):
    """One process runs NAMES; its exit status, or None if it overran the class limit."""
    cmd = [args.python, RUNNER, record, str(args.test_timeout)] + names
    if mode == "v4v":
        cmd = [v4v, "run", "--"] + cmd
    with open(log, "a") as err:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=work,
                             env=dict(os.environ, CONF_TIMEOUTS=limits), start_new_session=True)
        children.add(p.pid)
        try:
            return p.wait(timeout=args.class_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            err.write(f"\n*** over the class limit ({args.class_timeout:g} s): killed\n")
            return None
        finally:
            children.discard(p.pid)


def on_term(sig, _):
    # Killed (meson's timeout, or the shell around us died): take the runs
    # in progress along.
    for pid in list(children):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    shutil.rmtree(work, ignore_errors=True)
    os._exit(128 + sig)


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGHUP, on_term)
try:  # and die with the shell that started us (PR_SET_PDEATHSIG)
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)
except (OSError, AttributeError):
    pass


def parse(record):
    """{id: (outcome, detail, seconds)}, and the test started but not done."""
    res, pending = {}, None
    for line in open(record) if os.path.exists(record) else []:
        words = line.rstrip("\n").split(" ", 4)
        if words[0] == "start":
            pending = words[1]
        elif words[0] == "done":
            tid, secs, outcome = words[1], float(words[2]), words[3]
            detail = words[4] if len(words) > 4 else ""
            # A test with several failing subtests: the first one says why.
            if tid not in res or res[tid][0] not in ("fail", "error"):
                res[tid] = (outcome, detail, secs)
            if tid == pending:
                pending = None
    return res, pending


def run_class(mode, cls, ids, limits):
    """Run one class until each of its tests has an outcome."""
    key = os.path.join(tmp, f"{mode}.{cls.rsplit('.', 1)[1]}")
    names, results, t0, attempt = [cls], {}, time.monotonic(), 0
    while True:
        attempt += 1
        record, log = f"{key}.{attempt}.rec", f"{key}.{attempt}.log"
        rc = run_once(mode, names, record, log, limits)
        res, pending = parse(record)
        results.update(res)
        if pending:
            # faulthandler's dump: the innermost line of the test file.
            with open(log) as f:
                where = [l.strip() for l in f if l.strip().startswith("File") and "/test/" in l]
            results[pending] = ("hang", where[0] if where else "", 0.0)
        left = [t for t in ids if t not in results]
        if not left:
            break
        if not pending:
            # No test hung: class or module fixtures did, or the process
            # could not start or died (v4v run's own failures: exit 3, 125).
            why = "not run: " + ("class limit" if rc is None else f"process ended early (exit {rc})")
            results.update({t: ("hang" if rc is None else "error", why, 0.0) for t in left})
            break
        names = left
    return results, time.monotonic() - t0


def run_mode(mode, classes, limits):
    out, times = {}, {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futs = {pool.submit(run_class, mode, c, ids, limits): c for c, ids in classes.items()}
        for f in concurrent.futures.as_completed(futs):
            res, secs = f.result()
            out.update(res)
            times[futs[f]] = secs
    return out, times


def write_limits(path, plain):
    with open(path, "w") as f:
        for tid, (outcome, _, secs) in plain.items():
            # A test that hung plainly too gets the floor.
            f.write(f"{tid} {max(args.floor, args.factor * secs):.1f}\n")
    return path


def summary(results):
    counts = {}
    for r in results.values():
        counts[r[0]] = counts.get(r[0], 0) + 1
    return " ".join(f"{k} {counts.get(k, 0)}" for k in ("pass", "fail", "error", "skip", "hang", "xfail", "xpass"))


def retry(tid, limits):
    """Outcomes of TID run alone once more, plainly and under V4V."""
    again = {}
    for mode in ("plain", "v4v"):
        rec = os.path.join(tmp, f"retry.{mode}.{tid}.rec")
        run_once(mode, [tid], rec, rec[:-4] + ".log", limits if mode == "v4v" else "")
        again[mode] = parse(rec)[0].get(tid, ("hang",))[0]
    return again


def main():
    excl = load_exclusions(args.exclude)
    probe = subprocess.run([v4v, "run", "--", args.python, "-c", "pass"], capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"FAIL v4v run cannot start {args.python} (exit {probe.returncode}): {probe.stderr.strip()}")
        return 1
    classes = list_tests()
    print(f"{args.module}: {sum(map(len, classes.values()))} tests in {len(classes)} classes,"
          f" {args.jobs} at a time; a test's limit: {args.test_timeout:g} s plainly,"
          f" {args.factor:g} x its plain time (at least {args.floor:g} s) under V4V", flush=True)
    t0 = time.monotonic()
    plain, _ = run_mode("plain", classes, "")
    t1 = time.monotonic()
    print(f"plain: {t1 - t0:.0f} s", flush=True)
    limits = write_limits(os.path.join(tmp, "v4v-limits"), plain)
    before = stream_bytes()
    v4vr, vtimes = run_mode("v4v", classes, limits)
    carried = stream_bytes() - before
    t2 = time.monotonic()
    slow = sorted(vtimes.items(), key=lambda kv: -kv[1])[:3]
    print(f"v4v:   {t2 - t1:.0f} s (slowest classes: "
          + ", ".join(f"{c.rsplit('.', 1)[1]} {s:.0f} s" for c, s in slow) + ")")
    print(f"v4vd carried {carried} stream bytes during the V4V run")

    regressions = []
    print("\ndifferences (test, plain, v4v):")
    for tid in sorted(set(plain) | set(v4vr)):
        p, v = plain.get(tid, ("missing", "")), v4vr.get(tid, ("missing", ""))
        if p[0] == v[0]:
            continue
        note = ""
        if p[0] in GOOD and v[0] not in GOOD:
            why = excluded(tid, excl)
            note = f"  [excluded: {why}]" if why else "  [REGRESSION]"
            if not why:
                regressions.append(tid)
        print(f"  {tid}  {p[0]}  {v[0]}{': ' + v[1] if v[1] else ''}{note}", flush=True)

    if regressions and len(regressions) <= args.max_retry:
        print(f"\nthe {len(regressions)} regression(s) once more, alone:")
        for tid in list(regressions):
            again = retry(tid, limits)
            if again["plain"] not in GOOD:
                note = "  [fails plainly too: not counted]"
                regressions.remove(tid)
            else:
                note = "  [intermittent under V4V]" if again["v4v"] in GOOD else ""
            print(f"  {tid}: plain {again['plain']}, v4v {again['v4v']}{note}", flush=True)

    print(f"\nplain: {summary(plain)}")
    print(f"v4v:   {summary(v4vr)}")
    bad = 0
    if regressions:
        print(f"FAIL {len(regressions)} test(s) pass plainly but not under V4V")
        bad = 1
    if carried <= 0:
        print("FAIL v4vd carried no stream bytes: the V4V run did not use V4V")
        bad = 1
    print(f"total {time.monotonic() - t0:.0f} s")
    shutil.rmtree(work, ignore_errors=True)
    if bad:
        print(f"logs (each class's unittest output, stacks of hung tests) kept in {tmp}")
    else:
        print("ok   every test that passes plainly passes under V4V")
        shutil.rmtree(tmp, ignore_errors=True)
    return bad


sys.exit(main())
