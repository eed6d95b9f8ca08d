#!/usr/bin/python3
"""Every series the alerting rules and the Grafana dashboard of infra/monitoring/ read is really
exported and really moves, on a real Orthanc with the gateway after real traffic.

Orthanc A (DICOMweb + gateway): "cloud" in proxy mode and "inj" in inject mode to a protected upstream
(Orthanc B behind nginx + the IdP), "failing" in inject mode against a token endpoint where nothing
listens (circuit breaker after one failure), the shared token cache in Redis, an audit trail on a
small tmpfs with a test audit rule that fails or drops on demand. Orthanc R, a replica with the same
Redis key, and later Orthanc K, one with another key. Traffic: a cold start of both replicas on a
slow IdP (one IdP call, a lease wait, a shared hit), STOW and QIDO through proxy mode and inject mode,
a direct proxy request, a QIDO over the rate limit (on K), the failing server's STOW job and test, a revoked token (upstream 401,
invalidation), a background refresh, a reload (published, then refused), audit rule failure and
drop, the audit disk full (write errors, queue-full drops), Redis stopped.

Then /dicomweb-oauth/metrics and /tools/metrics-prometheus are scraped: each metric name found in
alerts.yml and dashboard.json must have an expectation here (a new one fails the test until it is
covered), be present in both expositions (histogram buckets only in ours) and have moved as the
traffic implies. No secret or token shows up in any of it."""
# gw-test-timeout: 600
import importlib.util
import json
import re
import secrets
import shutil
import subprocess
import threading

from harness import env, testing, wait_until
from harness.dicom import make_study
from harness.idp import IdentityProvider, IdpClient
from harness.redis import Redis
from harness.tmpfs import SmallTmpfs
from harness.upstream import ProtectedDicomWeb
from gwtest import (LoopbackSecretCapture, assert_no_secret, copy_scripts, gateway_orthanc, proxy_request,
                    wait_proxy_definition)
from test_token_cache import JWT_SHAPE, parse_metrics

SECRET = "metrics-populated-client-secret-5d1c"
INJ_SECRET = "metrics-populated-inject-secret-a93f"
HASH_KEY = "metrics-populated-hash-key-7e20a9"
TOKEN_TTL = 20  # refreshed ahead after about 10 s: the background refresh shows within the test

# Fails or drops a record when the query asks for it, keeps it otherwise.
FLAKY_AUDIT = """
local M = { name = "flaky_audit", version = "1.0.0", kind = "audit" }
function M.record(event)
  local fields = event.fields
  for _, q in ipairs((fields and fields.query) or {}) do
    if q.name == "audit_test" and q.value == "fail" then error("planted audit rule failure") end
    if q.name == "audit_test" and q.value == "drop" then return false end
  end
  return fields
end
return M
"""


def load_checker():
    spec = importlib.util.spec_from_file_location("monitoring_check", env.SOURCE_DIR / "infra/monitoring/check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def server(idp, url, mode, **over):
    s = {"Url": url, "TokenEndpoint": idp.token_url(), "ClientId": "orthanc-a", "ClientSecret": SECRET,
         "Scope": "dicomweb", "Resource": "urn:gw-test:dicomweb", "Mode": mode}
    s.update(over)
    return s


def labels_of(text):
    """'{a="1",b="2"}' -> {"a": "1", "b": "2"}"""
    return dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', text or ""))


class Scrape:
    """One scrape of one Orthanc: ours (native) and Orthanc's own exposition."""

    def __init__(self, orthanc, texts):
        self.ours_text = orthanc.rest("GET", "/dicomweb-oauth/metrics").text
        self.theirs_text = orthanc.rest("GET", "/tools/metrics-prometheus").text
        texts += [self.ours_text, self.theirs_text]
        self.ours = parse_metrics(self.ours_text)
        self.theirs = parse_metrics(self.theirs_text)

    def value(self, name, source="ours", **labels):
        """Sum of the samples of `name` whose labels include `labels`; None when there is none."""
        samples = self.ours if source == "ours" else self.theirs
        found = [v for (n, l), v in samples.items() if n == name and labels.items() <= labels_of(l).items()]
        return sum(found) if found else None


class MetricsPopulated(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # First, while the test process has a single thread (unshare(CLONE_NEWNS) needs that).
        cls.disk = cls.use_class(SmallTmpfs(cls.ws, "audit-disk", size_kib=256))
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[
            IdpClient("orthanc-a", secret=SECRET, access_token_ttl=TOKEN_TTL),
            IdpClient("orthanc-inj", secret=INJ_SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.redis = cls.use_class(Redis(cls.ws))
        cls.key = secrets.token_hex(32)
        cls.scripts = copy_scripts(cls.ws)
        (cls.scripts / "policies" / "test").mkdir(parents=True, exist_ok=True)
        (cls.scripts / "policies" / "test" / "flaky_audit.lua").write_text(FLAKY_AUDIT)
        cls.capture = LoopbackSecretCapture(cls.ws)
        url = cls.upstream.dicomweb_url
        cls.servers = {
            "cloud": server(cls.idp, url, "proxy"),
            # A client of its own: a token key of its own, so that its acquisitions do not warm "cloud".
            "inj": server(cls.idp, url, "inject", ClientId="orthanc-inj", ClientSecret=INJ_SECRET),
            "failing": server(cls.idp, url, "inject", TokenEndpoint="http://127.0.0.1:9/token",
                              ResilienceConfig={"RetryMaxAttempts": 2, "RetryInitialDelay": 0.1,
                                                "CircuitBreakerFailureThreshold": 1, "CircuitBreakerTimeout": 600}),
            # The same credentials as "cloud" (its token), an upstream where nothing listens.
            "down": server(cls.idp, "http://127.0.0.1:9/dicom-web/", "proxy"),
            # The same upstream behind the shipped read_only policy: a QIDO is allowed at both stages,
            # a STOW denied at the client stage (policy decisions).
            "ro": server(cls.idp, url, "proxy", Policies=["read_only"]),
        }
        cls.shared = {"CacheType": "redis", "RedisUrl": cls.redis.url, "RedisEncryptionKey": cls.key}
        # A rate limit no traffic here reaches: its series are exported (at 0) on A as well.
        section = dict(cls.shared, WatchScripts=False, RateLimitRequests=100000,
                       Audit={"File": str(cls.disk.path / "audit.jsonl"), "HashKey": HASH_KEY,
                              "Rules": ["phi_redaction", "flaky_audit"], "FsyncIntervalMs": 0,
                              "QueueCapacity": 4, "QueueTimeoutMs": 50, "FailClosed": False})
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers=cls.servers, scripts=cls.scripts, section=section,
                                              config=cls.capture.config()))
        cls.r = cls.use_class(gateway_orthanc(cls.ws, name="orthanc-r", servers={"cloud": cls.servers["cloud"]},
                                              section=cls.shared))
        cls.texts = []

    # -- traffic -------------------------------------------------------------------------------

    def server_test(self, orthanc, name, fresh=False):
        r = orthanc.rest("POST", f"/dicomweb-oauth/servers/{name}/test", json={"Fresh": fresh})
        self.texts.append(r.text)
        return r.status, r.json()

    def load(self, study):
        ids = [self.a.upload(d)["ID"] for d in study.instances]
        return self.a.get_json(f"/instances/{ids[0]}/study")["ID"]

    def stow(self, name, study):
        study_id = self.load(study)
        r = self.a.rest("POST", f"/dicom-web/servers/{name}/stow", json={"Resources": [study_id], "Synchronous": False})
        self.assertEqual(r.status, 200, r.text)
        return self.a.wait_job(r.json()["ID"], timeout=300)

    def qido(self, name, **args):
        return self.a.rest("POST", f"/dicom-web/servers/{name}/qido", json={"Uri": "/studies", "Arguments": args})

    def drive_traffic(self):
        # Both replicas hold the token fetched at start (one IdP call, the other read Redis). Both ask
        # for a fresh one at the same moment, the IdP slow: one holds the lease and calls the IdP,
        # the other waits for the lease (shared cache miss, lease wait).
        self.idp.set_fault(delay_ms=2000)
        results = {}
        barrier = threading.Barrier(4)

        def caller(i):
            barrier.wait(timeout=60)
            results[i] = self.server_test(self.a if i % 2 == 0 else self.r, "cloud", fresh=True)
        threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.idp.clear_faults()
        self.assertEqual(sorted(s for s, _ in results.values()), [200] * 4, results)

        wait_proxy_definition(self.a, "cloud")
        secret = self.cloud_secret = self.capture.secret(self.a, "cloud")

        # STOW + QIDO through proxy mode and inject mode.
        for name, seed in (("cloud", 61), ("inj", 62)):
            study = make_study(3, seed=seed)
            if name == "cloud":
                self.cloud_stow_bytes = sum(len(d) for d in study.instances)
            job = self.stow(name, study)
            self.assertEqual(job["State"], "Success", job)
            self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)
            r = self.qido(name, StudyInstanceUID=study.study_instance_uid)
            self.assertEqual(r.status, 200, r.text)
            self.assertEqual(len(r.json()), 1)
        r = proxy_request(self.a, "cloud", "GET", "studies?limit=5", secret=secret,
                          headers={"Accept": "application/dicom+json"})
        self.assertEqual(r.status, 200, r.text)

        # The failing server: the request filter refuses its STOW (no token), its test fails while
        # the open circuit refuses. A STOW job to an upstream where nothing listens fails.
        study_id = self.load(make_study(1, seed=63))
        r = self.a.rest("POST", "/dicom-web/servers/failing/stow", json={"Resources": [study_id]})
        self.assertEqual(r.status, 403, r.text)
        wait_proxy_definition(self.a, "down")
        job = self.stow("down", make_study(1, seed=64))
        self.assertEqual(job["State"], "Failure", job)
        status, body = self.server_test(self.a, "failing", fresh=True)
        self.assertGreaterEqual(status, 400, body)

        # Policy verdicts: read_only lets a QIDO through (client and upstream stage) and refuses a STOW.
        wait_proxy_definition(self.a, "ro")
        r = self.qido("ro", limit="1")
        self.assertEqual(r.status, 200, r.text)
        r = self.a.rest("POST", "/dicom-web/servers/ro/stow", json={"Resources": [study_id]})
        self.assertEqual(r.status, 403, r.text)

        # A revoked token: the upstream's 401 invalidates it, the request is replayed once.
        self.assertGreater(self.idp.revoke_client("orthanc-a"), 0)
        r = self.qido("cloud", offset="1")
        self.assertEqual(r.status, 200, r.text)

        # The audit rule fails on one record and drops another.
        for mode in ("fail", "drop"):
            r = proxy_request(self.a, "cloud", "GET", f"studies?audit_test={mode}", secret=secret,
                              headers={"Accept": "application/dicom+json"})
            self.assertEqual(r.status, 200, r.text)

        # A reload that publishes, then one that is refused (the previous snapshot keeps serving).
        r = self.a.rest("POST", "/dicomweb-oauth/reload")
        self.assertEqual(r.status, 200, r.text)
        broken = self.scripts / "policies" / "test" / "broken.lua"
        broken.write_text("local M = {\n")
        try:
            r = self.a.rest("POST", "/dicomweb-oauth/reload")
            self.assertEqual(r.status, 422, r.text)
        finally:
            broken.unlink()
        self.assertEqual(self.a.rest("POST", "/dicomweb-oauth/reload").status, 200)

        # Background refresh ahead of a 20 s token.
        def refreshed():
            return Scrape(self.a, self.texts).value("dicomweb_oauth_token_refreshes_total", server="cloud",
                                                    trigger="background")
        wait_until(lambda: (refreshed() or 0) >= 1, 3 * TOKEN_TTL, "a background refresh of cloud's token")

        # The audit disk full: writes fail, the queue of 4 overflows; then space is back.
        self.disk.fill()
        try:
            for i in range(12):
                proxy_request(self.a, "cloud", "GET", f"studies?limit={10 + i}", secret=secret,
                              headers={"Accept": "application/dicom+json"})
            wait_until(lambda: (Scrape(self.a, self.texts).value("dicomweb_oauth_audit_write_errors_total") or 0) >= 1,
                       30, "an audit write error")
        finally:
            self.disk.free()

        # Another replica with another key: the shared record does not open (decrypt error).
        # It also allows one DICOMweb client call per server and hour: the second QIDO is refused.
        k = self.use(gateway_orthanc(self.ws, name="orthanc-k", servers={"cloud": self.servers["cloud"]},
                                     section=dict(self.shared, RedisEncryptionKey=secrets.token_hex(32),
                                                  RateLimitRequests=1, RateLimitWindowSeconds=3600)))
        self.assertEqual(self.server_test(k, "cloud")[0], 200)
        wait_proxy_definition(k, "cloud")
        qido = {"Uri": "/studies", "Arguments": {"limit": "1"}}
        r = k.rest("POST", "/dicom-web/servers/cloud/qido", json=qido)
        self.assertEqual(r.status, 200, r.text)
        r = k.rest("POST", "/dicom-web/servers/cloud/qido", json=qido)
        self.assertEqual(r.status, 403, r.text)  # the filter's refusal; PXY-015 is in the log
        # Redis stopped: the next fetch falls back to the IdP, the cache is marked down.
        self.redis.stop()
        self.assertEqual(self.server_test(self.a, "cloud", fresh=True)[0], 200)
        return k

    # -- expectations --------------------------------------------------------------------------

    def expectations(self, a, r, k, orthanc_before):
        """metric name -> (description, check(scrapes) -> bool). Every name in alerts.yml and
        dashboard.json must be here."""
        def v(scrape, name, **labels):
            return scrape.value(name, **labels) or 0

        def both(name, **labels):
            return v(a, name, **labels) + v(r, name, **labels) + v(k, name, **labels)
        h = "dicomweb_oauth_token_acquisition_duration_seconds"
        p = "dicomweb_oauth_proxy_request_duration_seconds"
        policy = "dicomweb_oauth_policy_decisions_total"
        return {
            "dicomweb_oauth_proxy_requests_total":
                ("2xx for cloud's STOW and QIDO, 5xx for the STOW to \"down\" (upstream unreachable)",
                 lambda: v(a, "dicomweb_oauth_proxy_requests_total", server="cloud", status_class="2xx") >= 4
                 and v(a, "dicomweb_oauth_proxy_requests_total", server="down", status_class="5xx") >= 1
                 and a.value("dicomweb_oauth_proxy_requests_total", server="cloud", status_class="5xx") is not None),
            "dicomweb_oauth_proxy_body_bytes_total":
                ("cloud's STOW body (its instances and the multipart framing) sent, answers received; "
                 "nothing for inject-mode inj",
                 lambda: v(a, "dicomweb_oauth_proxy_body_bytes_total", server="cloud", direction="request")
                 > self.cloud_stow_bytes
                 and v(a, "dicomweb_oauth_proxy_body_bytes_total", server="cloud", direction="response") > 0
                 and a.value("dicomweb_oauth_proxy_body_bytes_total", server="inj", direction="request") is None),
            p + "_bucket": ("cloud's requests timed", lambda: v(a, p + "_bucket", server="cloud", le="+Inf") >= 4),
            p + "_sum": ("time spent", lambda: v(a, p + "_sum", server="cloud") > 0),
            p + "_count": ("one per request",
                           lambda: v(a, p + "_count", server="cloud")
                           == v(a, "dicomweb_oauth_proxy_requests_total", server="cloud")),
            policy:
                ("read_only allowed the QIDO at both stages and denied the STOW at the client stage",
                 lambda: v(a, policy, server="ro", policy="read_only", stage="client", decision="allow") >= 1
                 and v(a, policy, server="ro", policy="read_only", stage="upstream", decision="allow") >= 1
                 and v(a, policy, server="ro", policy="read_only", stage="client", decision="deny") >= 1),
            "dicomweb_oauth_script_reloads_total":
                ("the start, two published reloads and one refused",
                 lambda: v(a, "dicomweb_oauth_script_reloads_total", trigger="start", outcome="success") == 1
                 and v(a, "dicomweb_oauth_script_reloads_total", trigger="rest", outcome="success") >= 2
                 and v(a, "dicomweb_oauth_script_reloads_total", trigger="rest", outcome="failure") >= 1
                 and a.value("dicomweb_oauth_script_reloads_total", trigger="file-watch", outcome="failure") == 0),
            "dicomweb_oauth_audit_queue_depth":
                ("sampled at the scrape, within the queue's capacity",
                 lambda: a.value("dicomweb_oauth_audit_queue_depth") is not None
                 and 0 <= a.value("dicomweb_oauth_audit_queue_depth") <= a.value("dicomweb_oauth_audit_queue_capacity")),
            "dicomweb_oauth_audit_queue_capacity": ("Audit.QueueCapacity",
                                                    lambda: a.value("dicomweb_oauth_audit_queue_capacity") == 4),
            "dicomweb_oauth_token_remaining_seconds":
                ("cloud holds a token, failing none",
                 lambda: 0 < v(a, "dicomweb_oauth_token_remaining_seconds", server="cloud") <= TOKEN_TTL
                 and a.value("dicomweb_oauth_token_remaining_seconds", server="failing") == 0),
            "dicomweb_oauth_token_acquisitions_total":
                ("successes for cloud and inj, failures for failing",
                 lambda: v(a, "dicomweb_oauth_token_acquisitions_total", server="cloud", status="success") >= 2
                 and v(a, "dicomweb_oauth_token_acquisitions_total", server="inj", status="success") >= 1
                 and v(a, "dicomweb_oauth_token_acquisitions_total", server="failing", status="failure") >= 1),
            h + "_bucket": ("observations in the +Inf bucket",
                            lambda: v(a, h + "_bucket", server="cloud", le="+Inf") >= 2),
            h + "_sum": ("time spent", lambda: v(a, h + "_sum", server="cloud") > 0),
            h + "_count": ("one per acquisition", lambda: v(a, h + "_count", server="cloud") >= 2),
            "dicomweb_oauth_cache_hits_total": ("cloud served from the cache",
                                                lambda: v(a, "dicomweb_oauth_cache_hits_total", server="cloud") >= 3),
            "dicomweb_oauth_cache_misses_total": ("cloud fetched",
                                                  lambda: v(a, "dicomweb_oauth_cache_misses_total", server="cloud") >= 1),
            "dicomweb_oauth_token_refreshes_total":
                ("caller and background fetches",
                 lambda: v(a, "dicomweb_oauth_token_refreshes_total", server="cloud", trigger="caller") >= 1
                 and v(a, "dicomweb_oauth_token_refreshes_total", server="cloud", trigger="background") >= 1),
            "dicomweb_oauth_token_invalidations_total":
                ("the revoked token dropped", lambda: v(a, "dicomweb_oauth_token_invalidations_total", server="cloud") >= 1),
            "dicomweb_oauth_retry_attempts_total":
                ("failing retried", lambda: v(a, "dicomweb_oauth_retry_attempts_total", server="failing") >= 1),
            "dicomweb_oauth_circuit_breaker_state":
                ("failing open, cloud closed",
                 lambda: a.value("dicomweb_oauth_circuit_breaker_state", server="failing") == 1
                 and a.value("dicomweb_oauth_circuit_breaker_state", server="cloud") == 0),
            "dicomweb_oauth_circuit_breaker_rejections_total":
                ("the open circuit refused", lambda: v(a, "dicomweb_oauth_circuit_breaker_rejections_total",
                                                       server="failing") >= 1),
            "dicomweb_oauth_shared_cache_up": ("A saw Redis go", lambda: a.value("dicomweb_oauth_shared_cache_up") == 0
                                               and r.value("dicomweb_oauth_shared_cache_up") is not None),
            "dicomweb_oauth_shared_cache_hits_total": ("a replica read the shared token",
                                                       lambda: both("dicomweb_oauth_shared_cache_hits_total") >= 1),
            "dicomweb_oauth_shared_cache_misses_total": ("the shared level called the IdP",
                                                         lambda: both("dicomweb_oauth_shared_cache_misses_total") >= 1),
            "dicomweb_oauth_shared_cache_lease_waits_total":
                ("a replica waited for the other's lease",
                 lambda: both("dicomweb_oauth_shared_cache_lease_waits_total") >= 1),
            "dicomweb_oauth_rate_limited_total":
                ("K's second QIDO refused at the client stage; none at the upstream stage",
                 lambda: v(k, "dicomweb_oauth_rate_limited_total", server="cloud", stage="client") == 1
                 and k.value("dicomweb_oauth_rate_limited_total", server="cloud", stage="upstream") == 0),
            "dicomweb_oauth_shared_cache_errors_total":
                ("redis on A, decrypt on K",
                 lambda: v(a, "dicomweb_oauth_shared_cache_errors_total", reason="redis") >= 1
                 and v(k, "dicomweb_oauth_shared_cache_errors_total", reason="decrypt") >= 1),
            "dicomweb_oauth_audit_records_total": ("records queued", lambda: v(a, "dicomweb_oauth_audit_records_total") >= 10),
            "dicomweb_oauth_audit_records_dropped_total":
                ("queue_full and rule drops",
                 lambda: v(a, "dicomweb_oauth_audit_records_dropped_total", reason="queue_full") >= 1
                 and v(a, "dicomweb_oauth_audit_records_dropped_total", reason="rule") >= 1),
            "dicomweb_oauth_audit_write_errors_total": ("the full disk",
                                                        lambda: v(a, "dicomweb_oauth_audit_write_errors_total") >= 1),
            "dicomweb_oauth_audit_rule_failures_total":
                ("the planted failure", lambda: v(a, "dicomweb_oauth_audit_rule_failures_total", rule="flaky_audit") >= 1),
            # Orthanc's own metrics (no labels).
            "orthanc_rest_api_duration_ms": ("REST calls were timed",
                                             lambda: a.value("orthanc_rest_api_duration_ms", "theirs") is not None),
            "orthanc_rest_api_active_requests": ("the scrape itself is one",
                                                 lambda: (a.value("orthanc_rest_api_active_requests", "theirs") or 0) >= 0
                                                 and a.value("orthanc_rest_api_active_requests", "theirs") is not None),
            "orthanc_jobs_success": ("the STOW jobs",
                                     lambda: a.value("orthanc_jobs_success", "theirs") - orthanc_before["orthanc_jobs_success"] >= 2),
            "orthanc_jobs_failed": ("the STOW job to \"down\"",
                                    lambda: a.value("orthanc_jobs_failed", "theirs") - orthanc_before["orthanc_jobs_failed"] >= 1),
            "orthanc_jobs_running": ("present", lambda: a.value("orthanc_jobs_running", "theirs") is not None),
            "orthanc_jobs_pending": ("present", lambda: a.value("orthanc_jobs_pending", "theirs") is not None),
        }

    # -- the test ------------------------------------------------------------------------------

    def test_every_series_of_the_alerts_and_dashboard_is_exported_and_moves(self):
        before = Scrape(self.a, self.texts)
        orthanc_before = {n: before.value(n, "theirs") or 0 for n in ("orthanc_jobs_success", "orthanc_jobs_failed")}
        k = self.drive_traffic()
        a, r, ks = Scrape(self.a, self.texts), Scrape(self.r, self.texts), Scrape(k, self.texts)
        self.texts += [self.a.log_text(), self.r.log_text(), k.log_text(),
                       (self.disk.path / "audit.jsonl").read_text(encoding="utf-8", errors="replace")]

        checker = load_checker()
        used = set()
        for _, expr in checker.dashboard_exprs(json.loads((env.SOURCE_DIR / "infra/monitoring/dashboard.json").read_text())):
            used |= set(checker.METRIC_NAME.findall(expr))
        for alert in checker.parse_alerts((env.SOURCE_DIR / "infra/monitoring/alerts.yml").read_text()):
            used |= set(checker.METRIC_NAME.findall(alert["expr"]))
        self.assertGreater(len(used), 20, used)
        expect = self.expectations(a, r, ks, orthanc_before)
        self.assertEqual(sorted(used - set(expect)), [], "metrics used by the dashboard or alerts with no expectation")

        for name in sorted(used):
            description, moved = expect[name]
            with self.subTest(metric=name):
                if name.startswith("dicomweb_oauth_"):
                    self.assertIsNotNone(a.value(name), f"{name} missing from /dicomweb-oauth/metrics")
                    if not name.endswith("_bucket"):
                        # Orthanc's exposition carries the same series (histograms without buckets).
                        ours = {l for (n, l) in a.ours if n == name}
                        theirs = {l for (n, l) in a.theirs if n == name}
                        self.assertEqual(theirs, ours, f"{name}: /tools/metrics-prometheus differs")
                else:
                    self.assertIsNotNone(a.value(name, "theirs"), f"{name} missing from /tools/metrics-prometheus")
                samples = {f"{o}:{n}{l}": v for o, sc in (("A", a), ("R", r), ("K", ks))
                           for (n, l), v in sc.ours.items() if n == name}
                self.assertTrue(moved(), f"{name} did not move as expected ({description}): {samples}")

        # Prometheus can ingest both: promtool parses them (exit 1 is a parse error; 3 only lint
        # findings, which Orthanc's own series have: no HELP, units in names). Ours is lint-clean.
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool missing: apt-get install prometheus (scripts/lib/deps.sh)")
        for text, clean in ((a.ours_text, True), (a.theirs_text, False)):
            run = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
            output = run.stdout + run.stderr
            self.assertNotIn("error while linting", output)
            self.assertIn(run.returncode, (0,) if clean else (0, 3), output[:2000])

        # The alerts' label selectors match real label values.
        self.assertIsNotNone(a.value("dicomweb_oauth_token_acquisitions_total", status="failure"))
        self.assertIsNotNone(a.value("dicomweb_oauth_audit_records_dropped_total", reason="queue_full"))
        # Counters survived the reloads (a reset would blind `increase()` for a scrape interval).
        self.assertGreaterEqual(a.value("dicomweb_oauth_token_acquisitions_total", server="cloud"),
                                before.value("dicomweb_oauth_token_acquisitions_total", server="cloud") or 0)

        for text in self.texts:
            self.assertIsNone(JWT_SHAPE.search(text), "a JWT shows up in an output")
        assert_no_secret(self, [SECRET, INJ_SECRET, HASH_KEY, self.key, self.cloud_secret], *self.texts)


if __name__ == "__main__":
    testing.main()
