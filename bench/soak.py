#!/usr/bin/python3
"""Soak run (not CI): mixed STOW / QIDO / WADO-RS retrieve through both modes for a long time, with
one-minute tokens, Redis killed and restarted, and the identity provider unreachable now and then.
Every operation must succeed; Orthanc's memory must stay flat (RSS sampled every minute).

Run through bench/soak.sh (it builds the network namespace and finds the plugin):
    nice bench/soak.sh --minutes 60 --json soak.json

Set-up, all from the integration harness (tests/integration/harness):
  IdP (oidc-provider, tokens of --token-ttl s) <- TcpFaultProxy <- the gateways' TokenEndpoint
  ProtectedDicomWeb (nginx introspecting every token at the IdP, Orthanc B)
  Redis (shared token level of the two gateways)
  Orthanc A (DICOMweb + gateway): servers "inj" (inject mode) and "prx" (proxy mode), STOW and QIDO
  Orthanc C (DICOMweb + gateway, same servers, same Redis): WADO-RS retrieve of what A stored, QIDO
Faults: every --redis-every s Redis gets SIGKILL and comes back --redis-down s later (empty, no
persistence); every --idp-every s the IdP becomes unreachable for the gateways (connection refused,
open connections reset) for --idp-down s. The IdP process itself keeps running because the upstream
introspects every token there: a real restart would fail requests at the upstream, not the gateway.
"""
import argparse
import json
import os
import re
import secrets
import signal
import statistics
import sys
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from harness import Workspace  # noqa: E402
from harness.dicom import make_study  # noqa: E402
from harness.faults import TcpFaultProxy  # noqa: E402
from harness.idp import IdentityProvider, IdpClient  # noqa: E402
from harness.process import stop_together  # noqa: E402
from harness.redis import Redis  # noqa: E402
from harness.upstream import ProtectedDicomWeb  # noqa: E402
from gwtest import gateway_orthanc, rss_bytes, wait_proxy_definition  # noqa: E402

MODES = ("inj", "prx")


class Stats:
    """Counts, latencies and failures per operation (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ok = {}
        self.failed = {}
        self.latency = {}
        self.failures = []

    def record(self, op, seconds, error=None):
        with self.lock:
            self.latency.setdefault(op, []).append(seconds)
            if error is None:
                self.ok[op] = self.ok.get(op, 0) + 1
            else:
                self.failed[op] = self.failed.get(op, 0) + 1
                self.failures.append({"t": time.time(), "op": op, "error": error[:600]})

    def snapshot(self):
        with self.lock:
            out = {}
            for op in sorted(set(self.ok) | set(self.failed)):
                lat = sorted(self.latency.get(op, [0.0]))
                out[op] = {"ok": self.ok.get(op, 0), "failed": self.failed.get(op, 0),
                           "p50_s": round(lat[len(lat) // 2], 3),
                           "p99_s": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3),
                           "max_s": round(lat[-1], 3)}
            return out


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--token-ttl", type=int, default=60)
    p.add_argument("--redis-every", type=float, default=240.0)
    p.add_argument("--redis-down", type=float, default=10.0)
    p.add_argument("--idp-every", type=float, default=180.0)
    p.add_argument("--idp-down", type=float, default=8.0)
    p.add_argument("--sample-every", type=float, default=60.0)
    p.add_argument("--instances", type=int, default=3, help="instances per STOWed study")
    p.add_argument("--circuit-breaker-timeout", type=float,
                   help="ResilienceConfig.CircuitBreakerTimeout of the servers (default: the product's, 60 s)")
    p.add_argument("--json", help="write the samples and the summary to this file")
    return p.parse_args()


class Soak:
    def __init__(self, args):
        self.args = args
        self.ws = Workspace("soak")
        self.stats = Stats()
        self.stop = threading.Event()
        self.samples = []
        self.events = []
        self.to_retrieve = {m: [] for m in MODES}
        self.cond = threading.Condition()
        secret = "soak-client-secret-" + secrets.token_hex(8)
        self.idp = IdentityProvider(self.ws, clients=[IdpClient("soak", secret=secret,
                                                                access_token_ttl=args.token_ttl)], name="idp")
        self.components = []

    def start(self):
        a = self.args
        self.idp.start()
        self.components.append(self.idp)
        self.idp_link = TcpFaultProxy(self.ws, self.idp.port, name="idp-link").start()
        self.components.append(self.idp_link)
        self.redis = Redis(self.ws).start()
        self.components.append(self.redis)
        self.upstream = ProtectedDicomWeb(self.ws, self.idp).start()
        self.components.append(self.upstream)
        key = secrets.token_hex(32)

        def server(mode):
            return {"Url": self.upstream.dicomweb_url, "TokenEndpoint": self.idp_link.url + "/token",
                    "ClientId": "soak", "ClientSecret": self.idp.client("soak").secret, "Scope": "dicomweb",
                    "Resource": "urn:gw-test:dicomweb", "Mode": mode, "Timeout": 120,
                    **({"ResilienceConfig": {"CircuitBreakerTimeout": a.circuit_breaker_timeout}}
                       if a.circuit_breaker_timeout else {})}
        servers = {"inj": server("inject"), "prx": server("proxy")}
        section = {"CacheType": "redis", "RedisUrl": self.redis.url, "RedisEncryptionKey": key}
        self.a = gateway_orthanc(self.ws, servers=servers, section=section, name="orthanc-a",
                                 config={"JobsHistorySize": 50}, verbosity="")
        self.c = gateway_orthanc(self.ws, servers=servers, section=section, name="orthanc-c",
                                 config={"JobsHistorySize": 50}, verbosity="")
        for o in (self.a, self.c):
            o.start()
            self.components.append(o)
            wait_proxy_definition(o, "prx")
        print(f"soak: workspace {self.ws.path}; {a.minutes:g} min, tokens of {a.token_ttl} s, Redis killed "
              f"every {a.redis_every:g} s for {a.redis_down:g} s, IdP unreachable every {a.idp_every:g} s for "
              f"{a.idp_down:g} s", flush=True)

    # -- operations ------------------------------------------------------------------------------

    def timed(self, op, fn):
        t0 = time.monotonic()
        try:
            error = fn()
        except Exception as e:  # noqa: BLE001 (any exception is a failed operation, recorded)
            error = f"{type(e).__name__}: {e}"
        self.stats.record(op, time.monotonic() - t0, error)
        return error is None

    def job(self, orthanc, path, body):
        r = orthanc.rest("POST", path, json=body)
        if r.status != 200:
            return None, f"{path}: HTTP {r.status} {r.text[:300]}"
        job = orthanc.wait_job(r.json()["ID"], timeout=300)
        if job["State"] != "Success":
            return None, f"{path}: job {job['State']} {job.get('ErrorDescription')} {job.get('ErrorDetails', '')}"
        return job, None

    def stow_loop(self, mode):
        n = 0
        while not self.stop.is_set():
            n += 1
            study = make_study(self.args.instances, seed=n * 7 + len(mode), rows=64, columns=64,
                               patient_id=f"SOAK-{mode}-{n}")
            ids = [self.a.upload(d)["ID"] for d in study.instances]
            study_id = self.a.get_json(f"/instances/{ids[0]}/study")["ID"]

            def stow():
                _, err = self.job(self.a, f"/dicom-web/servers/{mode}/stow", {"Resources": [study_id], "Synchronous": False})
                return err
            if self.timed(f"stow/{mode}", stow):
                with self.cond:
                    self.to_retrieve[mode].append(study)
                    del self.to_retrieve[mode][:-20]
                    self.cond.notify_all()
            self.a.rest("DELETE", f"/studies/{study_id}")

    def qido_loop(self, mode):
        i = 0
        while not self.stop.is_set():
            i += 1
            orthanc = self.a if i % 2 else self.c

            def qido():
                r = orthanc.rest("POST", f"/dicom-web/servers/{mode}/qido",
                                 json={"Uri": "/studies", "Arguments": {"limit": "5", "PatientID": f"SOAK-{mode}-*"}})
                return None if r.status == 200 and isinstance(r.json(), list) else f"HTTP {r.status} {r.text[:300]}"
            self.timed(f"qido/{mode}", qido)
            self.stop.wait(0.2)

    def retrieve_loop(self, mode):
        while not self.stop.is_set():
            with self.cond:
                self.cond.wait_for(lambda: self.to_retrieve[mode] or self.stop.is_set(), timeout=5)
                if self.stop.is_set():
                    return
                if not self.to_retrieve[mode]:
                    continue
                study = self.to_retrieve[mode].pop(0)

            def retrieve():
                _, err = self.job(self.c, f"/dicom-web/servers/{mode}/retrieve",
                                  {"Resources": [{"Study": study.study_instance_uid}], "Asynchronous": True})
                if err:
                    return err
                got = self.c.instance_hashes(study.sha256_by_sop)
                if got != study.sha256_by_sop:
                    return f"retrieved study differs: {len(got)} of {len(study.sha256_by_sop)} instances match"
                return None
            self.timed(f"retrieve/{mode}", retrieve)
            r = self.c.rest("POST", "/tools/lookup", body=study.study_instance_uid.encode())
            for item in (r.json() if r.status == 200 else []):
                if item.get("Type") == "Study":
                    self.c.rest("DELETE", f"/studies/{item['ID']}")

    # -- faults and samples ----------------------------------------------------------------------

    def event(self, what):
        self.events.append({"t": time.time(), "event": what})
        print(f"soak: {time.strftime('%H:%M:%S')} {what}", flush=True)

    def faults_loop(self):
        a = self.args
        start = time.monotonic()
        next_redis, next_idp = start + a.redis_every, start + a.idp_every
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_redis:
                self.event("redis SIGKILL")
                self.redis.process.signal(signal.SIGKILL)
                self.redis.process.wait(10)
                self.stop.wait(a.redis_down)
                self.redis.stop()
                self.redis.start()
                self.event("redis back")
                next_redis += a.redis_every
            elif now >= next_idp:
                self.event("idp unreachable")
                self.idp_link.down()
                self.stop.wait(a.idp_down)
                self.idp_link.up()
                self.event("idp reachable")
                next_idp += a.idp_every
            else:
                self.stop.wait(min(next_redis, next_idp) - now)

    def sample(self, t0):
        token_requests = self.idp.token_requests("soak")
        s = {"minute": round((time.monotonic() - t0) / 60, 2), "rss_mib_a": round(rss_bytes(self.a.process.pid) / 2**20, 1),
             "rss_mib_c": round(rss_bytes(self.c.process.pid) / 2**20, 1),
             "rss_mib_upstream": round(rss_bytes(self.upstream.backend.process.pid) / 2**20, 1),
             "idp_token_requests": token_requests, "ops": self.stats.snapshot()}
        self.samples.append(s)
        ok = sum(v["ok"] for v in s["ops"].values())
        failed = sum(v["failed"] for v in s["ops"].values())
        print(f"soak: t={s['minute']:6.2f} min  RSS A {s['rss_mib_a']:7.1f} MiB  C {s['rss_mib_c']:7.1f} MiB  "
              f"upstream {s['rss_mib_upstream']:7.1f} MiB  ops ok {ok}  failed {failed}  IdP token requests "
              f"{token_requests}", flush=True)

    def run(self):
        a = self.args
        threads = [threading.Thread(target=self.faults_loop, daemon=True, name="faults")]
        for mode in MODES:
            for fn in (self.stow_loop, self.qido_loop, self.retrieve_loop):
                threads.append(threading.Thread(target=self.guard, args=(fn, mode), daemon=True,
                                                name=f"{fn.__name__}-{mode}"))
        t0 = time.monotonic()
        for t in threads:
            t.start()
        self.sample(t0)
        end = t0 + a.minutes * 60
        try:
            while time.monotonic() < end:
                self.stop.wait(min(a.sample_every, max(0.0, end - time.monotonic())))
                self.sample(t0)
        except KeyboardInterrupt:
            self.event("interrupted")
        finally:
            self.stop.set()
            with self.cond:
                self.cond.notify_all()
            for t in threads:
                t.join(timeout=330)
            self.sample(t0)

    def guard(self, fn, mode):
        """A loop that raised outside an operation (harness error): recorded, then restarted."""
        while not self.stop.is_set():
            try:
                fn(mode)
            except Exception:  # noqa: BLE001
                self.stats.record(f"harness/{mode}", 0.0, traceback.format_exc())
                self.stop.wait(1)

    def summary(self):
        rss_a = [s["rss_mib_a"] for s in self.samples]
        rss_c = [s["rss_mib_c"] for s in self.samples]
        ops = self.samples[-1]["ops"] if self.samples else {}

        def trend(values):
            if len(values) < 6:
                return None
            k = max(1, len(values) // 4)
            return round(statistics.mean(values[-k:]) - statistics.mean(values[1:1 + k]), 1)
        return {"minutes": round(self.samples[-1]["minute"], 1) if self.samples else 0,
                "ok": sum(v["ok"] for v in ops.values()), "failed": sum(v["failed"] for v in ops.values()),
                "ops": ops, "faults": self.events,
                "rss_mib_a": {"first": rss_a[:2], "last": rss_a[-1:], "max": max(rss_a, default=0),
                              "last_quarter_minus_first_quarter": trend(rss_a)},
                "rss_mib_c": {"first": rss_c[:2], "last": rss_c[-1:], "max": max(rss_c, default=0),
                              "last_quarter_minus_first_quarter": trend(rss_c)},
                "idp_token_requests": self.samples[-1]["idp_token_requests"] if self.samples else 0,
                "circuit_breaker": {"a": self.circuit_openings(self.a), "c": self.circuit_openings(self.c)},
                "first_failures": self.stats.failures[:20]}

    @staticmethod
    def circuit_openings(orthanc):
        """What each replica's log says of its circuit breaker: the first refusal of each open stretch
        is a warning (repeats are debug) naming when the probe comes. With one-minute tokens that
        must be before the cached token becomes unusable, not CircuitBreakerTimeout later."""
        probes = []
        for line in orthanc.log_text().splitlines():
            if re.search(r"token fetch for server '[^']*' failed: TOK-003: circuit breaker open", line):
                m = re.search(r"next probe in (\d+) s", line)
                probes.append(int(m.group(1)) if m else None)
        return {"openings_logged": len(probes), "next_probe_in_s": probes}


def main():
    if os.environ.get("GW_NETNS") != "1":
        sys.stderr.write("soak: run through bench/soak.sh (private network namespace)\n")
        return 2
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    soak = Soak(args)
    failed = True
    try:
        soak.start()
        soak.run()
        summary = soak.summary()
        failed = summary["failed"] > 0
        print(json.dumps(summary, indent=2), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"samples": soak.samples, "summary": summary}, indent=2))
    finally:
        stop_together(soak.components)
        soak.ws.close(failed=failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
