#!/usr/bin/python3
"""Run one integration test script inside a fresh private network namespace.

    unshare -n -- /usr/bin/python3 tests/integration/netns_run.py tests/integration/test_x.py [args]

(as non-root: `unshare -r -n -- ...`). Refuses to run when the namespace has any interface besides
`lo` (i.e. it was not started under `unshare -n`), brings `lo` up, checks 127.0.0.1 works, then
replaces itself with the test script (same PID, so a ctest timeout reaches the script, and the
servers it started die with it through PR_SET_PDEATHSIG).
"""
import os
import socket
import subprocess
import sys

PYTHON = "/usr/bin/python3"


def interfaces():
    # /proc/self/net/dev belongs to this process's network namespace (unlike /sys/class/net).
    with open("/proc/self/net/dev") as f:
        lines = f.read().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines if ":" in line]


def fail(code, message):
    sys.stderr.write(f"{code}: {message}\n")
    sys.exit(2)


def main():
    if len(sys.argv) < 2:
        fail("HAR-020", "usage: unshare -n -- netns_run.py <test script> [args]")
    script = os.path.abspath(sys.argv[1])
    if not os.path.isfile(script):
        fail("HAR-021", f"no such test script: {script}")

    names = interfaces()
    others = [n for n in names if n != "lo"]
    if others or "lo" not in names:
        fail("HAR-022", f"not in a fresh network namespace (interfaces: {', '.join(names)}); "
                        "run through `unshare -n --` (ctest does)")
    proc = subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True, timeout=10)
    if proc.returncode != 0:
        fail("HAR-023", f"cannot bring lo up: {proc.stderr.decode(errors='replace').strip()}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", 0))
        except OSError as err:
            fail("HAR-024", f"127.0.0.1 is not usable after bringing lo up: {err}")

    env = dict(os.environ, GW_NETNS="1", PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    sys.stdout.flush()
    os.execve(PYTHON, [PYTHON, "-B", script, *sys.argv[2:]], env)


if __name__ == "__main__":
    main()
