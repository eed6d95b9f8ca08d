#!/usr/bin/python3
"""Data-path benchmark: Orthanc A sends studies to, and retrieves them from, a DICOMweb upstream
(Orthanc B) in four ways side by side, against three kinds of upstream.

Modes (how A's DICOMweb client reaches the upstream):
  direct   DicomWeb.Servers entry with a static `Authorization` header (the limit: no gateway)
  inject   the gateway keeps that header fresh (inject mode)
  proxy    the gateway's streaming route adds it (proxy mode)
  nginx    a local nginx reverse proxy adds the header (what a user could set up instead)

Upstream kinds (what users meet):
  orthanc  Orthanc B with DICOMweb itself: no front, never answers `Expect: 100-continue`
  front    B behind nginx that admits one bearer token (auth_request; nginx answers 100-continue)
  far      the same front reached through a relay that holds every byte 20 ms each way (a cloud
           region away: 40 ms round trip; bench/delay_relay.py)

Workloads: STOW of 50 x 2 MiB and of 1000 x 5 KB (synchronous STOW job, the study deleted from B
first), WADO-RS retrieve of each back into A (deleted from A first), and 4 STOW jobs at once
(4 studies of 12 x 2 MiB, A runs ConcurrentJobs 4).

For every transfer: time from the job's submission to the first and to the last instance stored on
the receiving side (its /statistics polled every 10 ms: the DICOMweb job's own wall time is
quantised to 500 ms and says little), every instance checked by content (SHA-256 of the files the
receiving Orthanc wrote, compared with the generated study; a count is not a check), and the peak
resident memory of Orthanc A (the sender of STOW, where the gateway runs) over its level before the
transfer. Modes are interleaved in a rotating order within every repetition and kind; repetition 0
warms up and is not counted. The report gives medians and each mode's throughput relative to direct
(direct time / mode time) on the same kind, with the targets: proxy >= 0.95 and not below nginx,
inject >= 0.98.

Run with bench/run_data_path.sh (it builds nothing: build the plugin first). Output: Markdown on
stdout, raw figures as JSON (--json FILE). --smoke runs tiny workloads once (a check that the bench
still works, used by tests/integration/test_bench_data_path_smoke.py), --memory the 1 GB memory
measurement (Orthanc A restarted before each mode).

--split-cpus gives each side its own CPU, as when the gateway's host and the upstream's are two
machines: Orthanc A and the header-adding nginx on one CPU, Orthanc B, its front and the relay on
the other (every thread, pinned after start; threads started later inherit it). Without it, all share
both CPUs, and a workload that keeps both busy (4 jobs at once) measures CPU contention: any work
the gateway adds then lengthens the transfer by the same amount (docs/PERFORMANCE.md).
"""
import argparse
import hashlib
import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness import DICOMWEB_PLUGIN, Orthanc, Workspace, env  # noqa: E402
from harness.dicom import make_study  # noqa: E402
from harness.nginx import Nginx, quote  # noqa: E402
from harness.process import wait_until  # noqa: E402
from harness.upstream import ProtectedDicomWeb  # noqa: E402
from gwtest import rss_bytes  # noqa: E402

TOKEN = "bench-static-token-6f0c2a9e41d84b7a"
MODES = ("direct", "inject", "proxy", "nginx")
KINDS = ("orthanc", "front", "far")
FAR_DELAY_MS = 20
TARGETS = {"inject": 0.98, "proxy": 0.95}


class BenchError(RuntimeError):
    pass


def server_name(mode, kind):
    return f"{mode}-{kind}"


class Counter:
    """Polls an Orthanc's instance count on its own keep-alive connection; records when it first
    exceeds `base` and when it reaches `base + n`."""

    def __init__(self, port, base, n, t0, interval=0.01):
        self.port, self.base, self.n, self.t0, self.interval = port, base, n, t0, interval
        self.first = None
        self.last = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _count(self, conn):
        conn.request("GET", "/statistics")
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise BenchError(f"/statistics: {r.status}")
        return json.loads(body)["CountInstances"]

    def _run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while not self._stop.is_set():
                count = self._count(conn)
                now = time.perf_counter()
                if self.first is None and count > self.base:
                    self.first = now - self.t0
                if count >= self.base + self.n:
                    self.last = now - self.t0
                    return
                self._stop.wait(self.interval)
        finally:
            conn.close()

    def wait(self, timeout):
        self._thread.join(timeout)
        self._stop.set()
        self._thread.join()
        if self.last is None:
            raise BenchError(f"only part of {self.n} instances arrived within {timeout} s")
        return self.first, self.last


class RssSampler:
    """Peak resident memory of a process while a block runs (sampled every 20 ms)."""

    def __init__(self, pid, interval=0.02):
        self.pid, self.interval = pid, interval

    def __enter__(self):
        self.before = rss_bytes(self.pid)
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))

    @property
    def growth(self):
        return self.peak - self.before


def storage_files(orthanc):
    root = Path(orthanc.config["StorageDirectory"])
    out = set()
    for dirpath, _, names in os.walk(root):
        out.update(os.path.join(dirpath, n) for n in names)
    return out


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return h.hexdigest()
            h.update(block)


def verify(orthanc, before, studies, what):
    """Every instance of `studies` was written by `orthanc` since `before` (a storage_files set),
    byte for byte: SHA-256 of the new files against the generated instances."""
    got = {}
    for path in storage_files(orthanc) - before:
        digest = file_sha256(path)
        got[digest] = got.get(digest, 0) + 1
    for study in studies:
        for sop, digest in study.sha256_by_sop.items():
            if got.get(digest, 0) < 1:
                raise BenchError(f"{what}: instance {sop} is missing or differs on the receiving side")
            got[digest] -= 1


def process_tree(root):
    """`root` and all its descendants' PIDs (nginx's workers, for instance)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def threads(pid):
    """The thread ids of process `pid`, as of now."""
    return [int(task.name) for task in Path(f"/proc/{pid}/task").glob("*")]


def pin(root, cpu):
    """Pins every thread of `root` and of its descendants to `cpu`."""
    for pid in process_tree(root):
        for tid in threads(pid):
            try:
                os.sched_setaffinity(tid, {cpu})
            except (ProcessLookupError, FileNotFoundError):
                pass  # the thread ended meanwhile


class Bench:
    def __init__(self, ws, kinds, orthanc_env=None, far_delay_ms=FAR_DELAY_MS):
        self.ws = ws
        self.kinds = kinds
        self.front = ProtectedDicomWeb(ws, auth="static", static_token=TOKEN)
        self.front.start()
        self.b = self.front.backend
        bases = {"orthanc": f"http://127.0.0.1:{self.b.http_port}", "front": self.front.url}
        if "far" in kinds:
            port = ws.ports.allocate()
            self.relay = ws.spawn("delay-relay", ["/usr/bin/python3", str(ROOT / "bench" / "delay_relay.py"),
                                                  "--listen", str(port), "--target", f"127.0.0.1:{self.front.port}",
                                                  "--delay-ms", str(far_delay_ms)])
            self.relay.start()
            wait_until(lambda: "listening" in self.relay.log_text(), 15, "the delay relay")
            bases["far"] = f"http://127.0.0.1:{port}"
        self.bases = {k: bases[k] for k in kinds}
        # One header-adding nginx server block per kind.
        blocks, ports, nginx_urls = [], [], {}
        for kind, base in self.bases.items():
            port = ws.ports.allocate()
            ports.append(port)
            nginx_urls[kind] = f"http://127.0.0.1:{port}/dicom-web"
            blocks.append(f"""
  server {{
    listen 127.0.0.1:{port};
    set $gw_auth "-";
    client_max_body_size 0;
    proxy_http_version 1.1;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_read_timeout 900s;
    proxy_send_timeout 900s;
    location / {{
      proxy_set_header Authorization {quote("Bearer " + TOKEN)};
      proxy_set_header Host $http_host;
      proxy_pass {base};
    }}
  }}""")
        self.nginx = Nginx(ws, "header-nginx", "\n".join(blocks), ports=ports)
        self.nginx.start()
        servers, gateway = {}, {}
        for kind, base in self.bases.items():
            url = base + "/dicom-web"
            servers[server_name("direct", kind)] = {"Url": url, "HttpHeaders": {"Authorization": "Bearer " + TOKEN}}
            servers[server_name("nginx", kind)] = {"Url": nginx_urls[kind]}
            common = {"Url": url, "Provider": "bench_static_token", "Token": TOKEN}
            gateway[server_name("inject", kind)] = {**common, "Mode": "inject"}
            gateway[server_name("proxy", kind)] = {**common, "Mode": "proxy"}
        config = {
            "ConcurrentJobs": 4,
            "DicomWeb": {"Servers": servers},
            "DicomWebOAuth": {"ScriptDirectories": [str(ROOT / "lua"), str(ROOT / "bench" / "lua")],
                              "Servers": gateway},
        }
        self.a = Orthanc(ws, plugins=[DICOMWEB_PLUGIN, env.plugin_path()], config=config, name="orthanc-a",
                        env=orthanc_env, verbosity="")
        self.a.start()
        self.wait_definitions()

    def split_cpus(self):
        """The sender's side (A, the header-adding nginx) on the first CPU this process may use, the
        upstream's side on the second."""
        allowed = sorted(os.sched_getaffinity(0))
        if len(allowed) < 2:
            raise BenchError("--split-cpus needs two CPUs")
        sender, receiver = allowed[:2]
        pin(self.a.process.pid, sender)
        pin(self.nginx.process.pid, sender)
        upstream = [self.b.process.pid, self.front.nginx.process.pid]
        if getattr(self, "relay", None) is not None:
            upstream.append(self.relay.pid)
        for pid in upstream:
            pin(pid, receiver)

    def affinity(self):
        """CPUs that the threads of each Orthanc may run on, as of now (the report shows the split)."""
        def cpus(pid):
            allowed = set()
            for tid in threads(pid):
                try:
                    allowed |= os.sched_getaffinity(tid)
                except (ProcessLookupError, FileNotFoundError):
                    pass  # the thread ended meanwhile
            return sorted(allowed)
        return {"orthanc-a": cpus(self.a.process.pid), "upstream": cpus(self.b.process.pid)}

    def wait_definitions(self):
        names = {server_name(m, k) for m in ("inject", "proxy") for k in self.kinds}
        wait_until(lambda: names <= set(self.a.get_json("/dicom-web/servers")), 20, "the gateway's definitions")

    def load(self, study):
        ids = [self.a.upload(d)["ID"] for d in study.instances]
        return self.a.get_json(f"/instances/{ids[0]}/study")["ID"]

    def clear_remote(self):
        for study_id in self.b.get_json("/studies"):
            self.b.rest("DELETE", f"/studies/{study_id}")
        if self.b.count_instances() != 0:
            raise BenchError("Orthanc B could not be emptied")

    def stow(self, server, studies):
        """STOW `studies` ([(study, id in A)]) at once, one job each; returns (first, last, rss growth)."""
        self.clear_remote()
        before = storage_files(self.b)
        n = sum(len(s.instances) for s, _ in studies)
        with RssSampler(self.a.process.pid) as rss:
            t0 = time.perf_counter()
            counter = Counter(self.b.http_port, 0, n, t0)
            if len(studies) == 1:
                r = self.a.rest("POST", f"/dicom-web/servers/{server}/stow",
                                json={"Resources": [studies[0][1]], "Synchronous": True}, timeout=900)
                if r.status != 200:
                    raise BenchError(f"STOW via {server}: {r.status} {r.text[:300]}")
            else:
                jobs = []
                for _, study_id in studies:
                    r = self.a.rest("POST", f"/dicom-web/servers/{server}/stow",
                                    json={"Resources": [study_id], "Synchronous": False})
                    if r.status != 200:
                        raise BenchError(f"STOW via {server}: {r.status} {r.text[:300]}")
                    jobs.append(r.json()["ID"])
                for job in jobs:
                    state = self.a.wait_job(job, timeout=900)["State"]
                    if state != "Success":
                        raise BenchError(f"STOW job via {server}: {state}")
            first, last = counter.wait(60)
        verify(self.b, before, [s for s, _ in studies], f"STOW via {server}")
        return first, last, rss.growth

    def retrieve(self, server, study, study_id):
        self.a.rest("DELETE", f"/studies/{study_id}")
        base = self.a.count_instances()
        before = storage_files(self.a)
        with RssSampler(self.a.process.pid) as rss:
            t0 = time.perf_counter()
            counter = Counter(self.a.http_port, base, len(study.instances), t0)
            r = self.a.rest("POST", f"/dicom-web/servers/{server}/retrieve",
                            json={"Resources": [{"Study": study.study_instance_uid}]}, timeout=900)
            if r.status != 200:
                raise BenchError(f"retrieve via {server}: {r.status} {r.text[:300]}")
            first, last = counter.wait(60)
        verify(self.a, before, [study], f"retrieve via {server}")
        return first, last, rss.growth


def workloads(smoke):
    if smoke:
        return [("STOW 8 x 5 KB", "stow", [make_study(8, seed=511, rows=48, columns=48)]),
                ("2 jobs at once", "stow", [make_study(3, seed=512 + i, rows=48, columns=48) for i in range(2)])]
    return [
        ("STOW 50 x 2 MiB", "stow", [make_study(50, seed=502, rows=1024, columns=1024)]),
        ("STOW 1000 x 5 KB", "stow", [make_study(1000, series_count=4, seed=501, rows=48, columns=48)]),
        ("4 jobs at once (4 x 12 x 2 MiB)", "stow",
         [make_study(12, seed=520 + i, rows=1024, columns=1024) for i in range(4)]),
    ]


def select_workloads(smoke, only):
    """The workloads whose label contains one of the comma-separated `only` substrings (all when empty)."""
    chosen = [w for w in workloads(smoke) if not only or any(o and o in w[0] for o in only.split(","))]
    if not chosen:
        raise BenchError(f"--workloads {only!r} matches none of: " + "; ".join(w[0] for w in workloads(smoke)))
    return chosen


def cpu_steal():
    """(steal, total) jiffies of the whole machine: on a VM, time the hypervisor gave to someone else."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def run_speed(bench, reps, smoke=False, modes=MODES, only=""):
    loaded = []
    for label, _, studies in select_workloads(smoke, only):
        loaded.append((label, [(s, bench.load(s)) for s in studies]))
    results = {}  # (workload, kind, mode) -> [(first, last, rss growth)]
    first_rep = 1 if smoke else 0
    for rep in range(first_rep, reps + 1):  # repetition 0 warms caches and connections; not counted
        for label, studies in loaded:
            for kind in bench.kinds:
                order = modes[rep % len(modes):] + modes[:rep % len(modes)]
                for mode in order:
                    server = server_name(mode, kind)
                    s = bench.stow(server, studies)
                    r = None
                    if len(studies) == 1:  # retrieve what was just stored
                        r = bench.retrieve(server, studies[0][0], studies[0][1])
                    if rep == 0:
                        continue
                    results.setdefault((label, kind, mode), []).append(s)
                    if r is not None:
                        results.setdefault((label.replace("STOW", "retrieve"), kind, mode), []).append(r)
        print(f"repetition {rep}/{reps} done", file=sys.stderr, flush=True)
    return results


def paired_ratios(results, label, kind, mode):
    """direct time / mode time within each repetition (the modes ran back to back in it): slow phases of the
    machine hit both sides of a pair, so these scatter less than the ratio of two medians."""
    return [d[1] / m[1] for d, m in zip(results[(label, kind, "direct")], results[(label, kind, mode)])]


def quartiles(values):
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def report_speed(results, kinds, reps, out=sys.stdout, modes=MODES):
    labels = []
    for (label, _, _) in results:
        if label not in labels:
            labels.append(label)
    raw, misses = {}, []
    med = {}
    for key, samples in results.items():
        med[key] = tuple(statistics.median(x[i] for x in samples) for i in range(3))
        raw[" / ".join(key)] = {"first_s": [x[0] for x in samples], "last_s": [x[1] for x in samples],
                                "rss_growth_bytes": [x[2] for x in samples],
                                "ratio_to_direct": paired_ratios(results, *key[:2], key[2])}

    def table(title, cell):
        print(f"\n{title}\n", file=out)
        print(f"| workload | upstream | {' | '.join(modes)} |", file=out)
        print("|---|---|" + "---|" * len(modes), file=out)
        for label in labels:
            for kind in kinds:
                if (label, kind, "direct") not in med:
                    continue
                cells = [cell(label, kind, mode) for mode in modes]
                print(f"| {label} | {kind} | " + " | ".join(cells) + " |", file=out)

    def ratio(label, kind, mode):
        return med[(label, kind, "direct")][1] / med[(label, kind, mode)][1]

    def paired(label, kind, mode):
        return statistics.median(paired_ratios(results, label, kind, mode))

    def last_cell(label, kind, mode):
        t = med[(label, kind, mode)][1]
        if mode == "direct":
            return f"{t:.3f} s"
        return f"{t:.3f} s (x{ratio(label, kind, mode):.2f})"

    table(f"Time to the last instance stored on the receiving side, median of {reps} "
          "(throughput relative to direct on the same upstream):", last_cell)
    def paired_cell(label, kind, mode):
        if mode == "direct":
            return "1"
        values = paired_ratios(results, label, kind, mode)
        low, high = quartiles(values)
        return f"x{statistics.median(values):.2f} [{low:.2f}-{high:.2f}]"

    table(f"Throughput relative to direct per repetition (direct time / mode time, the modes back to back), "
          f"median [quartiles] of {reps}; the targets are checked on these:", paired_cell)
    table("Time to the first instance stored on the receiving side, median:",
          lambda label, kind, mode: f"{med[(label, kind, mode)][0]:.3f} s")
    table("Peak resident memory of Orthanc A over its level before the transfer, median:",
          lambda label, kind, mode: f"+{med[(label, kind, mode)][2] / 2**20:.0f} MiB")
    for label in labels:
        for kind in kinds:
            if (label, kind, "direct") not in med:
                continue
            for mode, target in TARGETS.items():
                if mode in modes and paired(label, kind, mode) < target:
                    misses.append(f"{label} / {kind}: {mode} x{paired(label, kind, mode):.2f} < {target}")
            if "proxy" in modes and "nginx" in modes and paired(label, kind, "proxy") < paired(label, kind, "nginx"):
                misses.append(f"{label} / {kind}: proxy x{paired(label, kind, 'proxy'):.2f} "
                              f"< nginx x{paired(label, kind, 'nginx'):.2f}")
    print("\nTargets (proxy >= 0.95 of direct and not below nginx, inject >= 0.98): "
          + ("all met" if not misses else "missed: " + "; ".join(misses)), file=out)
    raw["targets_missed"] = misses
    return raw


def run_memory(bench, modes, kind):
    study = make_study(100, series_count=2, seed=503, rows=2240, columns=2240)  # ~10 MB each
    gb = study.total_bytes / 1e9
    study_id = bench.load(study)
    out = {}
    print(f"\nMemory: a {gb:.2f} GB study (100 instances) to and from upstream '{kind}', Orthanc A RSS growth "
          "over the level before (Orthanc A restarted before each mode):\n")
    print("| mode | STOW | retrieve |\n|---|---|---|")
    for mode in modes:
        bench.a.restart()
        bench.wait_definitions()
        server = server_name(mode, kind)
        s = bench.stow(server, [(study, study_id)])
        r = bench.retrieve(server, study, study_id)
        out[mode] = {"stow_growth": s[2], "retrieve_growth": r[2], "stow_last_s": s[1], "retrieve_last_s": r[1]}
        print(f"| {mode} | +{s[2] / 2**20:.0f} MiB ({s[1]:.1f} s) | +{r[2] / 2**20:.0f} MiB ({r[1]:.1f} s) |")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated upstream kinds")
    parser.add_argument("--far-delay-ms", type=float, default=FAR_DELAY_MS, help="one-way delay of 'far'")
    parser.add_argument("--smoke", action="store_true", help="tiny workloads, one repetition (a self-check)")
    parser.add_argument("--memory", action="store_true", help="run the 1 GB memory measurement instead")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="comma-separated modes to measure (a speed run always includes direct)")
    parser.add_argument("--workloads", default="",
                        help="speed: run only the workloads whose label contains one of these comma-separated "
                             "texts (e.g. '50 x 2 MiB,4 jobs'; a retrieve follows its STOW)")
    parser.add_argument("--orthanc-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment of Orthanc A (e.g. glibc malloc tunables); repeatable")
    parser.add_argument("--split-cpus", action="store_true",
                        help="Orthanc A's side on one CPU, the upstream's side on another (as two hosts)")
    parser.add_argument("--json", help="write raw results to this file")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    if any(k not in KINDS for k in kinds):
        parser.error(f"--kinds: one or more of {','.join(KINDS)}")
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in MODES for m in modes):
        parser.error(f"--modes: one or more of {','.join(MODES)}")
    if args.split_cpus and args.memory:
        parser.error("--split-cpus: not with --memory (it restarts Orthanc A for each mode)")
    speed_modes = tuple(m for m in MODES if m == "direct" or m in modes)
    ws = Workspace("bench_data_path")
    failed = True
    try:
        print(f"# data path, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}" + (", sides on separate CPUs" if args.split_cpus else ""),
              flush=True)
        bench = Bench(ws, kinds, dict(kv.split("=", 1) for kv in args.orthanc_env), args.far_delay_ms)
        if args.split_cpus:
            bench.split_cpus()
        if args.memory:
            raw = run_memory(bench, modes, kinds[0])
        else:
            reps = 1 if args.smoke else args.reps
            steal0 = cpu_steal()
            results = run_speed(bench, reps, args.smoke, speed_modes, args.workloads)
            steal1 = cpu_steal()
            raw = report_speed(results, kinds, reps, modes=speed_modes)
            stolen = (steal1[0] - steal0[0]) / max(1, steal1[1] - steal0[1])
            raw["cpu_steal_fraction"] = stolen
            raw["split_cpus"] = args.split_cpus
            raw["cpu_affinity"] = bench.affinity()  # read after the runs, over every thread then alive
            print(f"# CPU time taken by the hypervisor (steal) during the runs: {100 * stolen:.1f} %")
        print(f"# load average at the end {os.getloadavg()[0]:.1f}")
        if args.json:
            Path(args.json).write_text(json.dumps(raw, indent=2))
        failed = False
        return raw
    finally:
        ws.close(failed)


if __name__ == "__main__":
    main()
