"""One temporary directory per test script: configs, data, logs, ports, child processes.

A Workspace owns every process the components start and stops them (by PID, newest first) on
close(), on interpreter exit (atexit) and after a failure. When the run failed, or GW_KEEP_TEST_DIR=1,
the directory is kept and its path plus the tail of every log is printed; otherwise it is removed.
GW_TEST_TMPDIR chooses where the directories are created (default: the system temp dir).
"""
import atexit
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from .errors import HarnessError
from . import checker
from .process import ManagedProcess, stop_together


class PortAllocator:
    """Hands out TCP ports that are free right now and never hands out the same one twice.

    Tests run in their own network namespace, so a fixed range cannot clash with other tests; the
    bind probe still skips any port a server of this test already holds.
    """

    def __init__(self, first=21000, last=29999):
        self._next = first
        self._last = last

    def allocate(self):
        while self._next <= self._last:
            port = self._next
            self._next += 1
            if self._is_free(port):
                return port
        raise HarnessError("HAR-104", "no free TCP port left in the harness range")

    @staticmethod
    def _is_free(port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("0.0.0.0", port))  # Orthanc binds every interface: probe the same way
            except OSError:
                return False
        return True


class Workspace:
    """Temp dir + port allocator + process registry for one test script. Not thread-safe."""

    LOG_TAIL_LINES = 60

    def __init__(self, name):
        base = os.environ.get("GW_TEST_TMPDIR") or None
        if base:
            Path(base).mkdir(parents=True, exist_ok=True)
        self.name = name
        self.path = Path(tempfile.mkdtemp(prefix=f"gw-it-{name}-", dir=base))
        self.logs_dir = self.path / "logs"
        self.logs_dir.mkdir()
        self.ports = PortAllocator()
        self._processes = []
        self._extra_logs = []
        self._names = set()
        self._closed = False
        atexit.register(self._atexit)

    # -- files -----------------------------------------------------------------------------------

    def unique_name(self, name):
        """`name`, or `name-2`, `name-3`... so two components of the same kind never share files."""
        candidate, n = name, 1
        while candidate in self._names:
            n += 1
            candidate = f"{name}-{n}"
        self._names.add(candidate)
        return candidate

    def dir(self, name):
        """A fresh directory inside the workspace; its name (d.name) is `name` made unique. Components
        use that name for their log file too, so a component's files are easy to find."""
        d = self.path / self.unique_name(name)
        d.mkdir(parents=True)
        return d

    def log_path(self, name):
        return self.logs_dir / f"{name}.log"

    def add_log(self, path):
        """Register a log file written by a server itself (nginx access/error logs...)."""
        self._extra_logs.append(Path(path))

    def log_files(self):
        """Every log file of this workspace (process output and registered server logs)."""
        files = sorted(self.logs_dir.glob("*.log"))
        return files + [p for p in self._extra_logs if p.exists()]

    # -- processes -------------------------------------------------------------------------------

    def spawn(self, name, argv, env=None, cwd=None):
        """Create (not start) a ManagedProcess whose output goes to logs/<name>.log."""
        proc = ManagedProcess(name, argv, self.log_path(name), env=env, cwd=cwd)
        self._processes.append(proc)
        return proc

    def stop_all(self):
        """Stop every process still running (in parallel, newest first)."""
        stop_together([p for p in self._processes if p.running])

    # -- end of run ------------------------------------------------------------------------------

    def report(self, stream=None):
        """Print where the logs are and the tail of each one."""
        stream = stream or sys.stderr
        print(f"\n=== harness workspace kept: {self.path}", file=stream)
        for f in self.log_files():
            try:
                lines = f.read_text(errors="replace").splitlines()
            except OSError:
                continue
            print(f"--- {f} (last {min(len(lines), self.LOG_TAIL_LINES)} of {len(lines)} lines)", file=stream)
            for line in lines[-self.LOG_TAIL_LINES:]:
                print(f"    {line}", file=stream)
        stream.flush()

    def checker_findings(self):
        """Reports of the checker (harness/checker.py) in the logs of the processes run under it."""
        found = []
        for p in self._processes:
            if getattr(p, "checked", False):
                found += [f"{p.name}: {report}" for report in checker.findings(p.log_text())]
        return found

    def close(self, failed):
        """Stop every process; keep and report the directory if `failed`, else remove it.
        Returns the checker's findings (harness/checker.py); any of them also keeps the directory."""
        if self._closed:
            return []
        self._closed = True
        self.stop_all()
        found = self.checker_findings()
        failed = failed or bool(found)
        if failed or os.environ.get("GW_KEEP_TEST_DIR") == "1":
            self.report()
        else:
            shutil.rmtree(self.path, ignore_errors=True)
        return found

    def _atexit(self):
        # Reached without close(): the script crashed or forgot; keep everything for inspection.
        self.close(failed=True)
