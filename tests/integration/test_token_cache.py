#!/usr/bin/python3
"""The token cache through the real plugin in Orthanc against the real IdP: a token shorter than
TokenRefreshBufferSeconds is cached about half its life (not fetched per call), 500 concurrent
callers on a cold cache make exactly one IdP call, a token close to expiry is replaced in the
background before it expires without any caller waiting, the Prometheus metrics (ours and Orthanc's)
are populated, and no secret or token shows up anywhere. IdP calls are counted at the IdP."""
# gw-test-timeout: 300
import json
import re
import threading
import time

from harness import testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from gwtest import assert_no_secret, gateway_orthanc

UPSTREAM = "http://127.0.0.1:9/dicom-web/"  # never contacted: these tests only acquire tokens
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')


def server_for(idp, client_id, **over):
    c = idp.client(client_id)
    server = {"Url": UPSTREAM, "Mode": "proxy", "TokenEndpoint": idp.token_url(), "ClientId": c.client_id,
              "ClientSecret": c.secret, "ClientAuthMethod": c.auth_method}
    server.update(over)
    return server


def call_test(orthanc, name, fresh=False, texts=None):
    """POST /dicomweb-oauth/servers/{name}/test -> (status, JSON body)."""
    r = orthanc.rest("POST", f"/dicomweb-oauth/servers/{name}/test", json={"Fresh": fresh})
    if texts is not None:
        texts.append(r.text)
    return r.status, r.json()


def issued_tokens(idp):
    """Opaque tokens the IdP issued so far (ids of its ClientCredentials records)."""
    store = idp.state_dir / "store.json"
    if not store.exists():
        return set()
    return {k.partition(":")[2] for k in json.loads(store.read_text())
            if k.partition(":")[0] in ("ClientCredentials", "AccessToken")}


def parse_metrics(text):
    """Prometheus text -> {(name, labels text): float}; labels text is "" or the {...} part."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


class GatewayCase(testing.TestCase):
    """One IdP and one Orthanc per class; `servers` maps server name -> client options."""

    clients = ()
    servers = {}
    idp_name = "idp"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient(**c) for c in cls.clients],
                                                 name=cls.idp_name))
        servers = {name: server_for(cls.idp, **spec) for name, spec in cls.servers.items()}
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, servers=servers, name=f"orthanc-{cls.idp_name}"))
        cls.texts = []
        cls.tokens = set()

    def status_expiry(self, server):
        """expiresAt of the cached token as /dicomweb-oauth/status shows it (asks for nothing)."""
        return self.orthanc.get_json("/dicomweb-oauth/status")["servers"]["states"][server]["token"].get("expiresAt")

    def calls(self, client_id):
        return self.idp.token_requests(client_id)

    def scan_for_secrets(self):
        self.tokens |= issued_tokens(self.idp)
        secrets = [c.secret for c in self.idp.clients.values()] + sorted(self.tokens)
        for path in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers", "/dicomweb-oauth/metrics",
                     "/tools/metrics-prometheus"):
            self.texts.append(self.orthanc.rest("GET", path).text)
        self.texts.append(self.orthanc.log_text())
        self.assertTrue(self.tokens, "the IdP issued no token to look for")
        assert_no_secret(self, secrets, *self.texts)
        for text in self.texts:
            self.assertIsNone(JWT_SHAPE.search(text), "a JWT shows up in an output")


class ShortTokens(GatewayCase):
    """Regression (Python plugin): a token living less than TokenRefreshBufferSeconds was fetched on
    every call. Here a 20 s token with the default 300 s buffer is refreshed after about 10 s."""

    clients = [{"client_id": "short", "auth_method": "client_secret_post", "access_token_ttl": 20}]
    servers = {"short": {"client_id": "short", "TokenRefreshBufferSeconds": 300}}
    idp_name = "idp-short"

    def test_short_token_is_cached_about_half_its_life(self):
        before = self.calls("short")
        status, first = call_test(self.orthanc, "short", fresh=True, texts=self.texts)
        self.assertEqual(status, 200, first)
        t0 = time.monotonic()
        self.assertLessEqual(first["expiresInSeconds"], 20)
        samples = []  # (seconds since the first fetch, IdP calls so far, expiresAt served)
        calls = 0
        while time.monotonic() - t0 < 13.5:
            status, body = call_test(self.orthanc, "short", texts=self.texts)
            calls += 1
            self.assertEqual(status, 200, body)
            self.assertGreater(body["expiresInSeconds"], 0)
            samples.append((time.monotonic() - t0, self.calls("short") - before, body["expiresAt"]))
            time.sleep(0.25)
        self.assertGreater(calls, 30)
        early = [n for t, n, _ in samples if t < 8.0]
        # Refresh at expiry - min(300, 20 / 2) - jitter (at most 5 % of 20 s): 9-10 s after the fetch.
        self.assertEqual(set(early), {1}, f"fetched again before half its life: {samples}")
        self.assertEqual(samples[-1][1], 2, f"{calls} calls in 13.5 s: {samples}")
        refreshed_at = next(t for t, n, _ in samples if n == 2)
        self.assertGreater(refreshed_at, 8.0)
        self.assertLess(refreshed_at, 11.5)
        # The new token was served as soon as it was there.
        self.assertNotEqual(samples[-1][2], first["expiresAt"])

    def test_zz_no_secret_in_any_output(self):
        self.scan_for_secrets()


class ConcurrentColdCache(GatewayCase):
    """500 callers at once, nothing cached: one IdP call, everyone gets the same token."""

    clients = [{"client_id": "herd", "auth_method": "client_secret_basic"},
               {"client_id": "metered", "auth_method": "client_secret_post"}]
    servers = {"herd": {"client_id": "herd"}, "metered": {"client_id": "metered"}}
    idp_name = "idp-herd"
    CALLERS = 500

    def test_500_concurrent_callers_make_one_idp_call(self):
        self.assertEqual(self.calls("herd"), 0)
        state = {s["name"]: s for s in self.orthanc.get_json("/dicomweb-oauth/servers")["servers"]}["herd"]
        self.assertEqual(state["token"]["state"], "none")  # cold: nothing fetched at start-up
        # The IdP takes 1.5 s for the first token request, so callers pile up behind it.
        self.idp.set_fault(delay_ms=1500, count=1)
        results = [None] * self.CALLERS
        start = threading.Barrier(self.CALLERS)

        def caller(i):
            try:
                start.wait(timeout=60)
                # 500 connections at once can overflow Orthanc's listen queue: a connection reset
                # before any answer is the HTTP server's, not the gateway's, so that caller tries
                # again (at most twice). Every answer still counts, and the IdP is still asked once.
                for attempt in range(3):
                    try:
                        results[i] = call_test(self.orthanc, "herd")
                        break
                    except ConnectionResetError:
                        if attempt == 2:
                            raise
            except Exception as e:  # noqa: BLE001 - reported below with its index
                results[i] = (0, {"exception": repr(e)})

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(self.CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.idp.clear_faults()
        self.assertFalse(any(t.is_alive() for t in threads))
        failures = [(i, r) for i, r in enumerate(results) if not r or r[0] != 200]
        self.assertEqual(failures, [], f"{len(failures)} callers failed, e.g. {failures[:3]}")
        self.assertEqual(self.calls("herd"), 1)
        self.assertEqual(len({body["expiresAt"] for _, body in results}), 1)
        waited = [body["elapsedMs"] for _, body in results if body["elapsedMs"] >= 1000]
        self.assertGreater(len(waited), 1, "several callers waited for the one fetch")
        metrics = parse_metrics(self.orthanc.rest("GET", "/dicomweb-oauth/metrics").text)
        labels = '{server="herd"}'
        hits = metrics[("dicomweb_oauth_cache_hits_total", labels)]
        misses = metrics[("dicomweb_oauth_cache_misses_total", labels)]
        self.assertEqual(hits + misses, self.CALLERS)
        self.assertGreaterEqual(misses, len(waited))
        self.assertEqual(metrics[("dicomweb_oauth_token_acquisitions_total", '{server="herd",status="success"}')], 1)

    def test_metrics_ours_and_orthancs(self):
        before = self.calls("metered")
        # Cold cache: the first call misses and fetches (a fresh test would bypass the cache instead).
        self.assertEqual(call_test(self.orthanc, "metered", texts=self.texts)[0], 200)
        for _ in range(20):
            self.assertEqual(call_test(self.orthanc, "metered", texts=self.texts)[0], 200)
        self.assertEqual(self.calls("metered"), before + 1)

        text = self.orthanc.rest("GET", "/dicomweb-oauth/metrics").text
        self.texts.append(text)
        self.assertIn("# TYPE dicomweb_oauth_token_acquisitions_total counter", text)
        self.assertIn("# TYPE dicomweb_oauth_token_acquisition_duration_seconds histogram", text)
        self.assertIn("# TYPE dicomweb_oauth_cache_hits_total counter", text)
        self.assertIn("# TYPE dicomweb_oauth_cache_misses_total counter", text)
        ours = parse_metrics(text)
        server = '{server="metered"}'
        self.assertEqual(ours[("dicomweb_oauth_token_acquisitions_total", '{server="metered",status="success"}')], 1)
        self.assertEqual(ours[("dicomweb_oauth_token_acquisition_duration_seconds_count", server)], 1)
        self.assertGreater(ours[("dicomweb_oauth_token_acquisition_duration_seconds_sum", server)], 0)
        self.assertIn(("dicomweb_oauth_token_acquisition_duration_seconds_bucket", '{server="metered",le="+Inf"}'),
                      ours)
        self.assertGreaterEqual(ours[("dicomweb_oauth_cache_hits_total", server)], 20)
        self.assertGreaterEqual(ours[("dicomweb_oauth_cache_misses_total", server)], 1)
        self.assertGreater(ours[("dicomweb_oauth_token_remaining_seconds", server)], 200)

        # Orthanc's own exposition carries the same series (pushed as 32-bit floats at each scrape).
        orthanc_text = self.orthanc.rest("GET", "/tools/metrics-prometheus").text
        self.texts.append(orthanc_text)
        theirs = parse_metrics(orthanc_text)
        for family in ("dicomweb_oauth_token_acquisitions_total", "dicomweb_oauth_token_acquisition_duration_seconds_count",
                       "dicomweb_oauth_token_acquisition_duration_seconds_sum", "dicomweb_oauth_cache_hits_total",
                       "dicomweb_oauth_cache_misses_total"):
            with self.subTest(family=family):
                ours_keys = {k for k in ours if k[0] == family}
                theirs_keys = {k for k in theirs if k[0] == family}
                self.assertTrue(ours_keys)
                self.assertEqual(theirs_keys, ours_keys)
        key = ("dicomweb_oauth_token_acquisitions_total", '{server="metered",status="success"}')
        self.assertEqual(theirs[key], ours[key])
        self.assertGreaterEqual(theirs[("dicomweb_oauth_cache_hits_total", server)], 20)

    def test_zz_no_secret_in_any_output(self):
        self.scan_for_secrets()


class RefreshAhead(GatewayCase):
    """A 12 s token is replaced after about 6 s by the background refresher: no caller ever waits
    for the IdP (which takes 0.8 s per token here), and the IdP count grows while nobody asks."""

    clients = [{"client_id": "ahead", "auth_method": "client_secret_post", "access_token_ttl": 12}]
    servers = {"ahead": {"client_id": "ahead"}}
    idp_name = "idp-ahead"
    IDP_DELAY_MS = 800

    def test_token_replaced_before_expiry_without_callers_waiting(self):
        self.idp.set_fault(delay_ms=self.IDP_DELAY_MS)  # every token request is slow
        try:
            before = self.calls("ahead")
            status, first = call_test(self.orthanc, "ahead", fresh=True, texts=self.texts)
            self.assertEqual(status, 200, first)
            self.assertGreaterEqual(first["elapsedMs"], self.IDP_DELAY_MS)  # that caller did wait
            self.assertEqual(self.calls("ahead"), before + 1)

            # Quiet phase: nobody calls the gateway; the refresh happens on its own (~6 s).
            t0 = time.monotonic()
            wait_until(lambda: self.calls("ahead") == before + 2, 12, "the background refresh")
            self.assertGreater(time.monotonic() - t0, 3.0)
            wait_until(lambda: self.status_expiry("ahead") != first["expiresAt"], 5, "the new token to be cached")
            status, second = call_test(self.orthanc, "ahead", texts=self.texts)
            self.assertEqual(status, 200, second)
            self.assertLess(second["elapsedMs"], self.IDP_DELAY_MS // 2)
            self.assertGreater(second["expiresAt"], first["expiresAt"])

            # Busy phase: callers all the way through the next refresh; none waits for it.
            seen = set()
            deadline = time.monotonic() + 14
            while time.monotonic() < deadline and self.calls("ahead") < before + 3:
                status, body = call_test(self.orthanc, "ahead", texts=self.texts)
                self.assertEqual(status, 200, body)
                self.assertLess(body["elapsedMs"], self.IDP_DELAY_MS // 2, body)
                self.assertGreater(body["expiresInSeconds"], 0)
                seen.add(body["expiresAt"])
                time.sleep(0.2)
            self.assertEqual(self.calls("ahead"), before + 3)
            time.sleep(self.IDP_DELAY_MS / 1000 + 0.5)  # the third token lands
            status, third = call_test(self.orthanc, "ahead", texts=self.texts)
            self.assertLess(third["elapsedMs"], self.IDP_DELAY_MS // 2)
            self.assertGreater(third["expiresAt"], second["expiresAt"])
            self.assertIn(second["expiresAt"], seen)
        finally:
            self.idp.clear_faults()
        metrics = parse_metrics(self.orthanc.rest("GET", "/dicomweb-oauth/metrics").text)
        self.assertGreaterEqual(
            metrics[("dicomweb_oauth_token_refreshes_total", '{server="ahead",trigger="background"}')], 2)

    def test_zz_no_secret_in_any_output(self):
        self.scan_for_secrets()


if __name__ == "__main__":
    testing.main()
