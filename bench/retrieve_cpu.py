#!/usr/bin/python3
"""Retrieve CPU benchmark: what one WADO-RS retrieve of a large study (or, --workload stow, one STOW
of it, or of several studies at once) costs Orthanc A, where the gateway runs, in CPU time, direct
against proxy mode (or any of bench/data_path.py's modes), on the `orthanc` upstream kind.

Wall-clock ratios on a small shared machine move by +-30 % between identical runs; CPU time and
syscall byte counts do not depend on what else runs. For every retrieve (modes alternate within
each repetition, in a rotating order; repetition 0 warms up and is not counted):
  - user and system CPU time of Orthanc A and of Orthanc B (the upstream), from /proc/PID/stat
    (all threads, dead ones included; 10 ms resolution, so use studies of 100 MB or more);
  - A's minor page faults (every first touch of fresh memory: expensive on a paravirtualised VM);
  - the part of A's CPU time spent on its HTTP server threads (civetweb workers: the proxy route
    runs there; in direct mode they serve only the bench's own REST calls), the rest being mostly
    the DICOMweb client's retrieve thread (receiving, parsing, storing);
  - A's resident memory: growth at the peak of the transfer and level after it;
  - time to the last instance stored (as bench/data_path.py) and every instance checked by content.
  (a proxied STOW's exchange threads carry the name of the HTTP thread that started them but end
  with their request, before the CPU time is read: they count in A's total only.)
With --perf DIR, `perf record -g` samples Orthanc A during the counted retrieves of each mode into
DIR/<mode>-<rep>.data (perf report -i DIR/proxy-1.data --no-children), and the samples of A's
busiest threads are printed per transfer with their top functions (`perf script`, per thread id:
the route's or the exchange's thread is the HTTP worker whose functions are the gateway's and
libcurl's; run unprivileged, perf samples user space only). --perf-roles records DWARF call graphs
instead and ends with A's samples per transfer by role: the DICOMweb client, Orthanc's HTTP server
outside the plugin, the gateway's route and its exchange thread (docs/PERFORMANCE.md, "What the
proxy's CPU time is made of"). --orthanc-env NAME=VALUE adds to Orthanc A's environment.

Run it in a private network namespace, from the repository, with the plugin built:
  unshare -r -n -- python3 tests/integration/netns_run.py bench/retrieve_cpu.py --reps 4
or through bench/run_data_path.sh's environment (GW_PLUGIN, GW_SOURCE_DIR).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))

from data_path import Bench, server_name  # noqa: E402
from harness import Workspace  # noqa: E402
from harness.dicom import make_study  # noqa: E402
from gwtest import rss_bytes  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """The fields of /proc/PID/stat after the command name (which may contain spaces and ')')."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid):
    """(user, system) CPU seconds of a process, its threads (live and finished) included."""
    fields = proc_stat(pid)
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def minor_faults(pid):
    """Minor page faults of a process, its threads (live and finished) included."""
    return int(proc_stat(pid)[7])


def http_threads_cpu(pid):
    """CPU seconds of the process's HTTP server threads (they live as long as Orthanc)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except FileNotFoundError:
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        if name.startswith("civetweb-worker"):
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def perf_threads(path, top=5, functions=4):
    """Lines summarising a perf data file: samples per thread (busiest first) and their top functions."""
    out = subprocess.run(["perf", "script", "-i", str(path), "-F", "comm,tid,ip,sym"],
                         capture_output=True, text=True).stdout
    per_thread = {}
    tid = None
    for line in out.splitlines():
        if not line.strip():
            continue
        if not line.startswith("\t"):  # a sample's first line: comm (may contain spaces), tid, [ip symbol]
            fields = line.split()
            at = next((i for i, f in enumerate(fields) if f.isdigit()), None)
            if at is None:
                tid = None
                continue
            tid = (fields[at], " ".join(fields[:at]))
            entry = per_thread.setdefault(tid, {"samples": 0, "functions": {}})
            entry["samples"] += 1
            leaf = " ".join(fields[at + 2:])
            if leaf:  # without a call graph the leaf is on this line
                entry["functions"][leaf] = entry["functions"].get(leaf, 0) + 1
                tid = None
        elif tid is not None:  # with a call graph the leaf is the first frame
            leaf = " ".join(line.split()[1:]) or "?"
            counts = per_thread[tid]["functions"]
            counts[leaf] = counts.get(leaf, 0) + 1
            tid = None
    lines = []
    for (thread, name), entry in sorted(per_thread.items(), key=lambda kv: -kv[1]["samples"])[:top]:
        best = sorted(entry["functions"].items(), key=lambda kv: -kv[1])[:functions]
        lines.append(f"    {entry['samples']:5d} samples  thread {thread} {name}: " +
                     ", ".join(f"{fn[:50]} {n}" for fn, n in best))
    return lines


ROLES = (  # (role, libraries the call chain must contain, libraries it must not)
    ("gateway, on the HTTP thread (route)", ("libOrthancOAuthGateway", "libcivetweb"), ()),
    ("gateway, exchange thread", ("libOrthancOAuthGateway",), ("libcivetweb",)),
    ("DICOMweb client", ("libOrthancDicomWeb",), ()),
    ("Orthanc's HTTP server, outside the plugin", ("libcivetweb",), ("libOrthancOAuthGateway", "libOrthancDicomWeb")),
)


def perf_roles(path):
    """Samples of a perf data file recorded with DWARF call graphs, by (role, what): roles_from_script."""
    return roles_from_script(subprocess.run(["perf", "script", "-i", str(path), "-F", "ip,sym,dso"],
                                            capture_output=True, text=True).stdout)


def roles_from_script(text):
    """`perf script -F ip,sym,dso` output with call chains, counted by (role, what): the role from the
    libraries on the call chain (ROLES), `what` page faults, a system call, copies, or the leaf function."""
    counts = {}

    def count(frames):
        if not frames:
            return
        chain = " ".join(dso for _, dso in frames)
        role = next((name for name, need, exclude in ROLES
                     if all(lib in chain for lib in need) and not any(lib in chain for lib in exclude)), "other")
        names = [sym for sym, _ in frames]
        syscall = next((n for n in names if n.startswith("__x64_sys_")), None)
        if "asm_exc_page_fault" in names:
            what = "page faults"
        elif syscall:
            what = "syscall " + syscall[len("__x64_sys_"):]
        elif "memcpy" in names[0] or "memmove" in names[0]:
            what = "copies (memcpy)"
        else:
            what = names[0][:40]
        counts[(role, what)] = counts.get((role, what), 0) + 1

    frames = []
    for line in text.splitlines():
        parts = line.split(None, 1)
        if not line.strip():  # a blank line ends a sample
            count(frames)
            frames = []
        elif len(parts) == 2 and line.startswith(("\t", " ")):  # a frame: address, symbol, (library)
            sym, _, dso = parts[1].rpartition(" (")
            frames.append((sym.split("+")[0], dso.rstrip(")")))
    count(frames)
    return counts


def print_roles(per_mode, reps, top=4):
    """Per role: samples per transfer in each mode, and the mode with the most samples' largest parts."""
    modes = list(per_mode)
    roles = sorted({role for counts in per_mode.values() for role, _ in counts},
                   key=lambda r: -sum(n for c in per_mode.values() for (role, _), n in c.items() if role == r))
    print(f"\nOrthanc A's samples per transfer by role (perf, mean of {reps}; with -F 1000, one sample is 1 ms):\n")
    print("| role | " + " | ".join(modes) + " | largest parts (" + modes[-1] + ") |")
    print("|---|" + "---|" * (len(modes) + 1))
    for role in roles:
        cells = [sum(n for (r, _), n in per_mode[m].items() if r == role) / reps for m in modes]
        parts = sorted(((n, what) for (r, what), n in per_mode[modes[-1]].items() if r == role), reverse=True)[:top]
        print(f"| {role} | " + " | ".join(f"{c:.0f}" for c in cells) + " | " +
              ", ".join(f"{what} {n / reps:.0f}" for n, what in parts) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--modes", default="direct,proxy")
    parser.add_argument("--workload", choices=("retrieve", "stow"), default="retrieve",
                        help="stow: A sends the study instead (the proxy's request-body path)")
    parser.add_argument("--instances", type=int, default=50, help="instances per study")
    parser.add_argument("--studies", type=int, default=1,
                        help="stow: this many studies at once, one job each (4 with --instances 12: "
                             "data_path.py's '4 jobs at once')")
    parser.add_argument("--size", type=int, default=1024, help="rows = columns of each instance (1024: 2 MiB)")
    parser.add_argument("--orthanc-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment of Orthanc A (e.g. glibc malloc tunables); repeatable")
    parser.add_argument("--perf", help="directory for perf record data of Orthanc A, one file per mode")
    parser.add_argument("--perf-args", default="-g", help="perf record options (e.g. '--call-graph dwarf -F 1000')")
    parser.add_argument("--perf-roles", action="store_true",
                        help="with --perf: record DWARF call graphs at 1000 Hz and print A's samples by role "
                             "(DICOMweb client, Orthanc's HTTP server, the gateway's route and exchange threads)")
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    if args.perf_roles:
        if not args.perf:
            parser.error("--perf-roles needs --perf DIR")
        args.perf_args = "--call-graph dwarf,32768 -F 1000"
    roles = {m: {} for m in modes}
    ws = Workspace("bench_retrieve_cpu")
    failed = True
    try:
        print(f"# retrieve CPU, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        bench = Bench(ws, ["orthanc"], dict(kv.split("=", 1) for kv in args.orthanc_env))
        if args.studies > 1 and args.workload != "stow":
            parser.error("--studies: stow only")
        studies = [make_study(args.instances, seed=502 + i, rows=args.size, columns=args.size)
                   for i in range(args.studies)]
        loaded = [(s, bench.load(s)) for s in studies]
        study, study_id = loaded[0]
        mb = sum(s.total_bytes for s in studies) / 1e6
        bench.stow(server_name("direct", "orthanc"), loaded)
        a, b = bench.a.process.pid, bench.b.process.pid
        samples = {m: [] for m in modes}
        for rep in range(args.reps + 1):
            order = modes[rep % len(modes):] + modes[:rep % len(modes)]
            for mode in order:
                recorder = None
                if args.perf and rep > 0:
                    Path(args.perf).mkdir(parents=True, exist_ok=True)
                    out = Path(args.perf) / f"{mode}-{rep}.data"
                    recorder = subprocess.Popen(["perf", "record", *args.perf_args.split(), "-q", "-o", str(out), "-p", str(a)],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(0.5)  # perf attaches to every thread before the retrieve starts
                ua, sa = cpu_seconds(a)
                ub, sb = cpu_seconds(b)
                fa = minor_faults(a)
                ha = http_threads_cpu(a)
                if args.workload == "stow":
                    _, last, growth = bench.stow(server_name(mode, "orthanc"), loaded)
                else:
                    _, last, growth = bench.retrieve(server_name(mode, "orthanc"), study, study_id)
                ua2, sa2 = cpu_seconds(a)
                ub2, sb2 = cpu_seconds(b)
                fa2 = minor_faults(a)
                ha2 = http_threads_cpu(a)
                if recorder:
                    recorder.send_signal(2)
                    recorder.wait(60)
                    print(f"perf {out.name}, busiest threads of Orthanc A:", flush=True)
                    for line in perf_threads(out):
                        print(line, flush=True)
                    if args.perf_roles:
                        for key, n in perf_roles(out).items():
                            roles[mode][key] = roles[mode].get(key, 0) + n
                if rep == 0:
                    continue
                samples[mode].append({"last_s": last, "a_user": ua2 - ua, "a_sys": sa2 - sa, "a_faults": fa2 - fa,
                                      "b_cpu": (ub2 - ub) + (sb2 - sb),
                                      "a_http": ha2 - ha, "a_rss_growth": growth, "a_rss_after": rss_bytes(a)})
                s = samples[mode][-1]
                print(f"rep {rep} {mode:7s} last {last:.3f} s  A user {s['a_user']:.2f} sys {s['a_sys']:.2f} s  "
                      f"(HTTP threads {s['a_http']:.2f} s)  B {s['b_cpu']:.2f} s  A minor faults {s['a_faults']}  "
                      f"A RSS +{s['a_rss_growth'] / 2**20:.0f} MiB at peak, {s['a_rss_after'] / 2**20:.0f} MiB after",
                      flush=True)
        print(f"\n{args.workload} of {args.studies} x {args.instances} instances ({mb:.0f} MB), medians of "
              f"{args.reps} (Orthanc A: where the gateway runs, the {'sender' if args.workload == 'stow' else 'receiver'}):\n")
        print("| mode | last instance | A user CPU | A system CPU | A CPU total | of which HTTP threads | B CPU | "
              "A minor page faults | A peak RSS growth | A RSS after |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for mode in modes:
            med = {k: statistics.median(x[k] for x in samples[mode]) for k in samples[mode][0]}
            total = statistics.median(x["a_user"] + x["a_sys"] for x in samples[mode])
            print(f"| {mode} | {med['last_s']:.3f} s | {med['a_user']:.2f} s | {med['a_sys']:.2f} s | {total:.2f} s | "
                  f"{med['a_http']:.2f} s | {med['b_cpu']:.2f} s | {med['a_faults']:.0f} | "
                  f"{med['a_rss_growth'] / 2**20:.0f} MiB | {med['a_rss_after'] / 2**20:.0f} MiB |")
        if args.perf_roles:
            print_roles(roles, args.reps)
        print(f"# load average at the end {os.getloadavg()[0]:.1f}")
        failed = False
    finally:
        ws.close(failed)
    return samples


if __name__ == "__main__":
    main()
