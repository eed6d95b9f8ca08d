"""Child processes that are stopped by PID, never by name, and die with the test.

Every server a test starts is a ManagedProcess: stdout and stderr go to one log file, the child gets
PR_SET_PDEATHSIG=SIGTERM (if the test process is killed, e.g. by a ctest timeout, its servers get
SIGTERM instead of lingering), and stop() sends SIGTERM to that one PID, then SIGKILL after a bounded
wait. wait_until() is the one polling loop of the harness: bounded in time and in iterations.
"""
import ctypes
import math
import os
import signal
import subprocess
import time

from .errors import HarnessError

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # Runs in the child between fork and exec.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def stop_together(components):
    """Stop components in parallel: terminate() every one (newest first), then stop() each.

    Orthanc needs ~2.5 s to shut down; stopping three servers one after the other would add up.
    """
    components = list(components)
    for c in reversed(components):
        c.terminate()
    for c in reversed(components):
        c.stop()


def wait_until(predicate, timeout, what, interval=0.05):
    """Call predicate() until it returns a truthy value, which is returned.

    Bounded twice: by `timeout` seconds and by ceil(timeout / interval) + 1 calls. Raises
    HarnessError HAR-101 naming `what` when neither bound lets the predicate succeed.
    """
    deadline = time.monotonic() + timeout
    attempts = int(math.ceil(timeout / interval)) + 1
    for _ in range(attempts):
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise HarnessError("HAR-101", f"timed out after {timeout:g} s waiting for {what}")


class ManagedProcess:
    """One child process with its log file. Not thread-safe; owned by one Workspace."""

    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.returncode = None
        self._popen = None
        self._terminating = False

    def start(self):
        if self.running:
            raise HarnessError("HAR-102", f"{self.name} is already running (pid {self.pid})")
        self.returncode = None
        self._terminating = False
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                self._popen = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=self.env, cwd=self.cwd, preexec_fn=_die_with_parent, start_new_session=True)
            except OSError as err:
                raise HarnessError("HAR-103", f"cannot start {self.name}: {err}") from err
        return self

    @property
    def pid(self):
        return self._popen.pid if self._popen else None

    @property
    def running(self):
        return self._popen is not None and self._popen.poll() is None

    def poll(self):
        """Exit code if the process has ended, else None."""
        if self._popen is None:
            return self.returncode
        rc = self._popen.poll()
        if rc is not None:
            self.returncode = rc
        return rc

    def wait(self, timeout):
        """Wait at most `timeout` seconds for the process to end; returns its exit code or None."""
        if self._popen is None:
            return self.returncode
        try:
            self.returncode = self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def signal(self, signum):
        """Send `signum` to this process only (by PID)."""
        if self.running:
            os.kill(self._popen.pid, signum)

    def terminate(self):
        """Send SIGTERM once without waiting, so that several servers can shut down in parallel;
        stop() then only waits for this process."""
        if self._popen is not None and self._popen.poll() is None and not self._terminating:
            self._terminating = True
            try:
                os.kill(self._popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout=20.0):
        """SIGTERM, wait up to `timeout` s, then SIGKILL. Returns the exit code (negative = signal)."""
        if self._popen is None:
            return self.returncode
        if self._popen.poll() is None:
            self.terminate()
            if self.wait(timeout) is None:
                with open(self.log_path, "ab") as log:
                    log.write(f"--- {self.name} ignored SIGTERM for {timeout:g} s: SIGKILL\n".encode())
                os.kill(self._popen.pid, signal.SIGKILL)
                self.wait(10.0)
        self.returncode = self._popen.returncode
        self._terminating = False
        with open(self.log_path, "ab") as log:
            log.write(f"--- stopped {self.name}: exit code {self.returncode}\n".encode())
        self._popen = None
        return self.returncode

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
