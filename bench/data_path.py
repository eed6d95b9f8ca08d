#!/usr/bin/python3
"""Data-path benchmark: the same Orthanc A sends and retrieves the same studies to the same protected
upstream (Orthanc B behind nginx that admits one static bearer token) in four ways, side by side:

  direct   DicomWeb.Servers entry with a static `Authorization` header (the limit: no gateway at all)
  inject   the gateway keeps that header fresh (inject mode)
  proxy    the gateway's streaming route adds it (proxy mode)
  nginx    a local nginx reverse proxy adds the static header (what a user could pick instead)

Workloads: STOW of 1000 x ~5 KB and of 50 x 2 MB (synchronous STOW job, the study deleted from B
first), and WADO-RS retrieve of each back into A (deleted from A first). Modes are interleaved in a
rotating order in every repetition; the report gives medians and the ratio of each mode's
throughput to direct.

Memory (--memory): a study of about 1 GB (100 x 10 MB) goes A -> B and back in each mode, Orthanc A
restarted before each, while its resident memory is sampled every 50 ms; reports the growth over
the level before each transfer. Orthanc's own DICOMweb client is in the data path in every mode, so
the gateway's share is the difference to direct.

Run with bench/run_data_path.sh (it builds nothing: build the plugin first). Output: a Markdown table
on stdout and the raw timings as JSON (--json FILE).
"""
import argparse
import json
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
from harness.upstream import ProtectedDicomWeb  # noqa: E402
from gwtest import rss_bytes  # noqa: E402

TOKEN = "bench-static-token-6f0c2a9e41d84b7a"
MODES = ("direct", "inject", "proxy", "nginx")


class Bench:
    def __init__(self, ws, orthanc_env=None):
        self.ws = ws
        self.upstream = ProtectedDicomWeb(ws, auth="static", static_token=TOKEN)
        self.upstream.start()
        port = ws.ports.allocate()
        target = f"http://127.0.0.1:{self.upstream.port}"
        self.nginx = Nginx(ws, "header-nginx", f"""
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
      proxy_pass {target};
    }}
  }}
""", ports=[port])
        self.nginx.start()
        url = self.upstream.dicomweb_url
        gateway = {"Url": url, "Provider": "bench_static_token", "Token": TOKEN}
        config = {
            "DicomWeb": {"Servers": {
                "direct": {"Url": url, "HttpHeaders": {"Authorization": "Bearer " + TOKEN}},
                "nginx": {"Url": f"http://127.0.0.1:{port}/dicom-web"},
            }},
            "DicomWebOAuth": {
                "ScriptDirectories": [str(ROOT / "lua"), str(ROOT / "bench" / "lua")],
                "Servers": {"inject": {**gateway, "Mode": "inject"}, "proxy": {**gateway, "Mode": "proxy"}},
            },
        }
        self.a = Orthanc(ws, plugins=[DICOMWEB_PLUGIN, env.plugin_path()], config=config, name="orthanc-a",
                        env=orthanc_env)
        self.a.start()
        self.b = self.upstream.backend
        self.wait_definitions()

    def wait_definitions(self):
        # The gateway writes its definitions just after start.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            servers = self.a.get_json("/dicom-web/servers")
            if "inject" in servers and "proxy" in servers:
                break
            time.sleep(0.1)

    def load(self, study):
        ids = [self.a.upload(d)["ID"] for d in study.instances]
        return self.a.get_json(f"/instances/{ids[0]}/study")["ID"]

    def delete_remote(self, study_uid):
        for found in self.b.rest("POST", "/tools/lookup", body=study_uid.encode()).json():
            self.b.rest("DELETE", f"/studies/{found['ID']}")

    def upstream_seconds(self, mark):
        """Time the upstream nginx spent on the requests after `mark` (sum of request_time): the
        transfer itself, without the DICOMweb job's start-up and its 500 ms status polling."""
        entries = self.upstream.new_entries(mark, min_count=1)
        return sum(float(e["request_time"]) for e in entries)

    def stow(self, mode, study_id, study_uid, count):
        self.delete_remote(study_uid)
        mark = self.upstream.log_mark()
        t0 = time.perf_counter()
        r = self.a.rest("POST", f"/dicom-web/servers/{mode}/stow",
                        json={"Resources": [study_id], "Synchronous": True}, timeout=900)
        elapsed = time.perf_counter() - t0
        if r.status != 200:
            raise RuntimeError(f"STOW via {mode}: {r.status} {r.text[:300]}")
        stored = self.b.get_json("/statistics")["CountInstances"]
        if stored != count:
            raise RuntimeError(f"STOW via {mode}: upstream holds {stored} instances, expected {count}")
        return elapsed, self.upstream_seconds(mark)

    def retrieve(self, mode, study_id, study_uid, count):
        self.a.rest("DELETE", f"/studies/{study_id}")
        mark = self.upstream.log_mark()
        t0 = time.perf_counter()
        r = self.a.rest("POST", f"/dicom-web/servers/{mode}/retrieve",
                        json={"Resources": [{"Study": study_uid}]}, timeout=900)
        elapsed = time.perf_counter() - t0
        if r.status != 200:
            raise RuntimeError(f"retrieve via {mode}: {r.status} {r.text[:300]}")
        got = self.a.get_json("/statistics")["CountInstances"]
        if got != count:
            raise RuntimeError(f"retrieve via {mode}: Orthanc A holds {got} instances, expected {count}")
        return elapsed, self.upstream_seconds(mark)


class RssSampler:
    """Peak resident memory of a process while a block runs (sampled every 50 ms)."""

    def __init__(self, pid):
        self.pid = pid

    def __enter__(self):
        self.before = rss_bytes(self.pid)
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))

    @property
    def growth(self):
        return self.peak - self.before


def run_speed(bench, reps):
    workloads = [
        ("STOW 1000 x 5 KB", "stow", make_study(1000, series_count=4, seed=501, rows=48, columns=48)),
        ("STOW 50 x 2 MB", "stow", make_study(50, series_count=1, seed=502, rows=1024, columns=1024)),
    ]
    loaded = []
    for label, _, study in workloads:
        loaded.append((label, study, bench.load(study)))
    results = {}
    for rep in range(reps + 1):  # repetition 0 warms caches and connections; not counted
        order = MODES[rep % len(MODES):] + MODES[:rep % len(MODES)]
        for label, study, study_id in loaded:
            mb = study.total_bytes / 1e6
            # Only the study under test may be on B, so the instance counts check each transfer.
            for other_label, other, _ in loaded:
                if other is not study:
                    bench.delete_remote(other.study_instance_uid)
            for mode in order:
                s = bench.stow(mode, study_id, study.study_instance_uid, len(study.instances))
                r = bench.retrieve(mode, study_id, study.study_instance_uid,
                                   sum(len(x.instances) for _, x, _ in loaded))
                if rep == 0:
                    continue
                results.setdefault((label, mode), []).append((s, mb))
                results.setdefault((label.replace("STOW", "retrieve"), mode), []).append((r, mb))
        print(f"repetition {rep}/{reps} done", file=sys.stderr, flush=True)
    return results


def report_speed(results, reps):
    labels = []
    for (label, _) in results:
        if label not in labels:
            labels.append(label)
    raw = {}
    for index, title in ((0, "job wall time (what the user waits for, incl. the DICOMweb job's 500 ms polling)"),
                         (1, "upstream-side transfer time (sum of nginx request_time at the protected upstream)")):
        lines = [f"| workload | {' | '.join(MODES)} |", "|---|" + "---|" * len(MODES)]
        for label in labels:
            cells = []
            direct = statistics.median(t[index] for t, _ in results[(label, "direct")])
            for mode in MODES:
                times = [t[index] for t, _ in results[(label, mode)]]
                med = statistics.median(times)
                mb = results[(label, mode)][0][1]
                ratio = direct / med if med > 0 else float("nan")
                cells.append(f"{med:.2f} s, {mb / med:.0f} MB/s, x{ratio:.2f}")
                raw.setdefault(f"{label} / {mode}", {})[("job", "upstream")[index]] = {
                    "seconds": times, "median": med, "throughput_vs_direct": ratio}
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        print(f"\nMedians of {reps} repetitions, {title}: time, throughput, throughput relative to direct\n")
        print("\n".join(lines))
    return raw


def run_memory(bench, modes):
    study = make_study(100, series_count=2, seed=503, rows=2240, columns=2240)  # ~10 MB each
    gb = study.total_bytes / 1e9
    study_id = bench.load(study)
    del study.instances[:]  # the harness copy is not needed any more
    out = {}
    print(f"\nMemory: a {gb:.2f} GB study (100 instances), Orthanc A RSS growth over the level before "
          "(Orthanc A restarted before each mode):\n")
    print("| mode | STOW | retrieve |\n|---|---|---|")
    for mode in modes:
        bench.a.restart()
        bench.wait_definitions()
        pid = bench.a.process.pid
        with RssSampler(pid) as stow:
            s, _ = bench.stow(mode, study_id, study.study_instance_uid, 100)
        with RssSampler(pid) as ret:
            r, _ = bench.retrieve(mode, study_id, study.study_instance_uid, 100)
        out[mode] = {"stow_growth": stow.growth, "retrieve_growth": ret.growth, "stow_s": s, "retrieve_s": r,
                     "rss_before_stow": stow.before}
        print(f"| {mode} | +{stow.growth / 2**20:.0f} MiB ({s:.1f} s) | +{ret.growth / 2**20:.0f} MiB ({r:.1f} s) |")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--memory", action="store_true", help="run the 1 GB memory measurement instead")
    parser.add_argument("--modes", default=",".join(MODES), help="memory: comma-separated modes to measure")
    parser.add_argument("--orthanc-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment of Orthanc A (e.g. glibc malloc tunables); repeatable")
    parser.add_argument("--json", help="write raw results to this file")
    args = parser.parse_args()
    ws = Workspace("bench_data_path")
    failed = True
    try:
        bench = Bench(ws, dict(kv.split("=", 1) for kv in args.orthanc_env))
        if args.memory:
            raw = run_memory(bench, args.modes.split(","))
        else:
            raw = report_speed(run_speed(bench, args.reps), args.reps)
        if args.json:
            Path(args.json).write_text(json.dumps(raw, indent=2))
        failed = False
    finally:
        ws.close(failed)


if __name__ == "__main__":
    main()
