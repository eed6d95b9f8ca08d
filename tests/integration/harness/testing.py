"""unittest glue: one Workspace per test script, components stopped after use, logs on failure.

    from harness import testing
    from harness.idp import IdentityProvider

    class MyTests(testing.TestCase):
        @classmethod
        def setUpClass(cls):
            super().setUpClass()
            cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[...]))

        def test_something(self):
            redis = self.use(Redis(self.ws))     # stopped after this test, even if it fails

    if __name__ == "__main__":
        testing.main()

main() refuses to run outside the network namespace prepared by tests/integration/netns_run.py,
runs the tests, stops every server, and on failure keeps the workspace and prints its logs. A run that
executes no test fails. Extra command-line arguments go to unittest (e.g. -k pattern).
"""
import os
import signal
import sys
import time
import unittest
from pathlib import Path

from .process import stop_together
from .workspace import Workspace

_workspace = None


def workspace():
    """The Workspace of this test script (created on first use)."""
    global _workspace
    if _workspace is None:
        _workspace = Workspace(Path(sys.argv[0]).stem)
    return _workspace


class TestCase(unittest.TestCase):
    """Base class: `ws` is the script's Workspace; use()/use_class() start and later stop components."""

    ws = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ws = workspace()

    @classmethod
    def use_class(cls, component):
        """Start `component` now and stop it after the last test of the class."""
        if "_class_components" not in cls.__dict__:
            cls._class_components = []
            cls.addClassCleanup(lambda: stop_together(cls.__dict__["_class_components"]))
        cls._class_components.append(component)
        component.start()
        return component

    def use(self, component):
        """Start `component` now and stop it after this test (also when it fails). The components of
        one test are stopped together, in parallel."""
        if not hasattr(self, "_test_components"):
            self._test_components = []
            self.addCleanup(lambda: stop_together(self._test_components))
        self._test_components.append(component)
        component.start()
        return component


class _TimedResult(unittest.TextTestResult):
    """Records how long each test took (setUpClass time is not included)."""

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.durations.append((time.monotonic() - self._started, test.id()))

    durations = None


class _TimedRunner(unittest.TextTestRunner):
    def _makeResult(self):
        result = _TimedResult(self.stream, self.descriptions, self.verbosity)
        result.durations = []
        return result


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    if os.environ.get("GW_NETNS") != "1":
        sys.stderr.write("HAR-005: integration tests run inside a private network namespace: "
                         f"unshare -n -- /usr/bin/python3 tests/integration/netns_run.py {sys.argv[0]}\n")
        sys.exit(2)
    # SIGTERM (e.g. from a CI runner) unwinds like Ctrl-C (unittest lets KeyboardInterrupt through,
    # unlike SystemExit), so Workspace's atexit hook stops the servers and reports the logs.
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    program = unittest.main(module="__main__", exit=False, verbosity=2, argv=[sys.argv[0], *sys.argv[1:]],
                            testRunner=_TimedRunner)
    result = program.result
    print("durations (s):", file=sys.stderr)
    for seconds, name in sorted(result.durations, reverse=True):
        print(f"  {seconds:6.2f}  {name}", file=sys.stderr)
    ran = result.testsRun - len(result.skipped)
    failed = not result.wasSuccessful() or ran == 0
    if ran == 0:
        sys.stderr.write("HAR-006: no test was executed\n")
    if _workspace is not None:
        found = _workspace.close(failed=failed)
        for report in found:
            sys.stderr.write(f"HAR-209: checker report in an Orthanc log (docs/testing.md):\n{report}\n")
        failed = failed or bool(found)
    problems = result.failures + result.errors
    # A failing setUpClass/tearDown is reported as an error but is not one of the tests run.
    failed_tests = sum(1 for test, _ in problems if isinstance(test, unittest.TestCase))
    failed_tests += len(result.unexpectedSuccesses)
    bad = len(problems) + len(result.unexpectedSuccesses)
    print(f"total {time.monotonic() - started:.1f} s (servers included)", file=sys.stderr)
    print(f"{ran - failed_tests} passed, {bad} failed" +
          (f", {len(result.skipped)} skipped" if result.skipped else ""))
    sys.exit(1 if failed else 0)
