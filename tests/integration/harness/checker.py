"""Every Orthanc of a test run under a memory or undefined-behaviour checker (docs/testing.md,
"Sanitizers inside a real Orthanc"). Off unless one of these is set in the environment:

    GW_ORTHANC_WRAPPER   words put before /usr/sbin/Orthanc, e.g. "valgrind --tool=memcheck -q"
    GW_ORTHANC_ENV       NAME=VALUE words added to Orthanc's environment, e.g. "UBSAN_OPTIONS=..."
    GW_ORTHANC_SLOWDOWN  factor for the start and stop timeouts of Orthanc (valgrind: 10)

GW_PLUGIN says, as always, which build of the plugin Orthanc loads (e.g. an instrumented one).
When the checker is on, the log of every Orthanc is scanned once the test's servers have stopped;
a report (valgrind errors, a UBSan runtime error, an ASan or LSan report) fails the test run with
HAR-209 and its lines are printed.
"""
import os
import re
import shlex

# valgrind: each error's first line (also printed with -q, which drops the summary) and the summary;
# UBSan; ASan and LSan.
_REPORTS = re.compile(r"==\d+== (Invalid (read|write|free)|Mismatched free|Conditional jump|Use of uninitialised"
                      r"|Syscall param|Source and destination overlap|ERROR SUMMARY: [1-9])"
                      r"|runtime error: |ERROR: (Address|Leak)Sanitizer")
_CONTEXT_LINES = 40


def wrapper():
    """The command words to put before Orthanc (empty: none)."""
    return shlex.split(os.environ.get("GW_ORTHANC_WRAPPER", ""))


def extra_env():
    """Environment variables for Orthanc, from GW_ORTHANC_ENV."""
    out = {}
    for word in shlex.split(os.environ.get("GW_ORTHANC_ENV", "")):
        name, sep, value = word.partition("=")
        if sep and name:
            out[name] = value
    return out


def enabled():
    return bool(wrapper() or extra_env())


def slowdown():
    """Factor for Orthanc's timeouts (at least 1)."""
    try:
        return max(1.0, float(os.environ.get("GW_ORTHANC_SLOWDOWN", "1")))
    except ValueError:
        return 1.0


def findings(log_text):
    """The checker reports of one Orthanc log, each with the lines that follow it ([] if none)."""
    lines = log_text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if _REPORTS.search(line):
            out.append("\n".join(lines[max(0, i - 2):i + _CONTEXT_LINES]))
    return out
