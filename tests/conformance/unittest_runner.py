# unittest_runner.py RECORD TIMEOUT NAME...: run the unittest tests NAME
# (dotted: module, module.Class or module.Class.test) under the interpreter
# being tested, and append one line per event to RECORD, flushed at once,
# so that a process that dies or hangs still leaves what it did:
#
#   start ID
#   done ID SECONDS OUTCOME DETAIL    OUTCOME: pass fail error skip xfail xpass
#
# A test that runs longer than its time limit makes the process dump every
# thread's stack to stderr and exit (faulthandler): the driver sees a start
# with no done, counts that test as a hang, and runs the rest again.  The
# limit is TIMEOUT seconds, or the one given for the test in the file named
# by $CONF_TIMEOUTS (lines "ID SECONDS").  Verbose unittest output goes to
# stderr.  Used by cpython.py.
import faulthandler
import os
import sys
import time
import traceback
import unittest

record_path, timeout, names = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
record = open(record_path, "a", buffering=1)
limits = {}
if os.environ.get("CONF_TIMEOUTS"):
    for line in open(os.environ["CONF_TIMEOUTS"]):
        tid, secs = line.split()
        limits[tid] = float(secs)
started = 0.0


def note(what, tid, *words):
    if what == "done":
        words = (f"{time.monotonic() - started:.2f}",) + words
    record.write(" ".join((what, tid) + words).replace("\n", " ") + "\n")


def last_line(err):
    # The exception line of a formatted (type, value, traceback).
    text = "".join(traceback.format_exception_only(err[0], err[1]))
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:300] if lines else "?"


class Result(unittest.TextTestResult):
    def startTest(self, test):
        global started
        note("start", test.id())
        started = time.monotonic()
        faulthandler.dump_traceback_later(limits.get(test.id(), timeout), exit=True)
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        faulthandler.cancel_dump_traceback_later()

    def addSuccess(self, test):
        super().addSuccess(test)
        note("done", test.id(), "pass")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        note("done", test.id(), "fail", last_line(err))

    def addError(self, test, err):
        super().addError(test, err)
        # Errors in class or module fixtures come with no test of their own.
        tid = test.id() if isinstance(test, unittest.TestCase) else str(test)
        note("done", tid, "error", last_line(err))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        note("done", test.id(), "skip", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        note("done", test.id(), "xfail")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        note("done", test.id(), "xpass")

    def addSubTest(self, test, subtest, err):
        # A failing subtest fails its test: report it under the test's id
        # (the test's own addSuccess is then not called).
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "fail" if issubclass(err[0], test.failureException) else "error"
            note("done", test.id(), kind, subtest.id() + ": " + last_line(err))


suite = unittest.defaultTestLoader.loadTestsFromNames(names)
unittest.TextTestRunner(verbosity=2, resultclass=Result).run(suite)
note("finished", "-")
