#!/usr/bin/python3
"""IdP failures through the real plugin in Orthanc against the real IdP: while the IdP is stopped a
still-valid token keeps being served; once it has expired callers get a 503 with its TOK code (never
the expired token); when the IdP comes back, service resumes by itself (status shows "valid" again
without any caller). IdP 5xx answers are retried (transient) where refused credentials are not
(test_token_auth.py). No secret or token shows up anywhere."""
# gw-test-timeout: 240
import json
import re
import time

from harness import testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from gwtest import assert_no_secret, gateway_orthanc

UPSTREAM = "http://127.0.0.1:9/dicom-web/"  # never contacted: these tests only acquire tokens
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
TTL = 10


def issued_tokens(idp):
    """Opaque tokens the IdP issued so far (ids of its ClientCredentials records)."""
    store = idp.state_dir / "store.json"
    if not store.exists():
        return set()
    return {k.partition(":")[2] for k in json.loads(store.read_text())
            if k.partition(":")[0] in ("ClientCredentials", "AccessToken")}


class IdpOutage(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[
            IdpClient("outage", "client_secret_post", access_token_ttl=TTL),
            IdpClient("flaky", "client_secret_basic")], name="idp-outage"))
        # Short waits so the scenario fits in seconds: 2 attempts per acquisition, 0.2 s apart, and a
        # circuit breaker that reopens for probes after 2 s.
        resilience = {"RetryMaxAttempts": 2, "RetryInitialDelay": 0.2, "CircuitBreakerTimeout": 2}

        def server(client_id, **over):
            c = cls.idp.client(client_id)
            return {"Url": UPSTREAM, "Mode": "proxy", "TokenEndpoint": cls.idp.token_url(), "ClientId": c.client_id,
                    "ClientSecret": c.secret, "ClientAuthMethod": c.auth_method, **over}
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, name="orthanc-outage", servers={
            "outage": server("outage", ResilienceConfig=resilience),
            "flaky": server("flaky", ResilienceConfig={"RetryMaxAttempts": 3, "RetryInitialDelay": 0.2}),
        }))
        cls.texts = []
        cls.tokens = set()

    def call(self, name, fresh=False):
        r = self.orthanc.rest("POST", f"/dicomweb-oauth/servers/{name}/test", json={"Fresh": fresh})
        self.texts.append(r.text)
        return r.status, r.json()

    def token_state(self, name):
        """The server's token as /dicomweb-oauth/status shows it: asks the IdP for nothing."""
        status = self.orthanc.get_json("/dicomweb-oauth/status")
        self.texts.append(json.dumps(status))
        return status["servers"]["states"][name]["token"]

    def test_outage_valid_token_served_then_503_then_recovery_by_itself(self):
        status, first = self.call("outage", fresh=True)
        self.assertEqual(status, 200, first)
        t0 = time.monotonic()
        self.tokens |= issued_tokens(self.idp)
        calls_before_outage = self.idp.token_requests("outage")
        self.idp.stop()

        # The refresh at about half the lifetime fails (connection refused), yet the still-valid
        # token is served until it expires (minus the 1 s safety margin of a 10 s token).
        outcomes = []  # (seconds since the fetch, HTTP status, body)
        while time.monotonic() - t0 < TTL + 3:
            status, body = self.call("outage")
            outcomes.append((time.monotonic() - t0, status, body))
            if status != 200:
                break
            self.assertEqual(body["expiresAt"], first["expiresAt"])
            self.assertGreater(body["expiresInSeconds"], 0)
            time.sleep(0.25)
        served = [t for t, s, _ in outcomes if s == 200]
        self.assertGreater(max(served), TTL / 2 + 1, "the token was still served after the failed refresh")
        when, status, body = outcomes[-1]
        self.assertEqual(status, 503, body)
        self.assertGreater(when, TTL - 2.5)
        self.assertEqual(body["error"]["code"], "TOK-001")
        self.assertIn("expired and refresh failed", body["error"]["message"])
        self.assertIn("NET-001", body["error"]["message"])
        state = self.token_state("outage")
        self.assertEqual(state["state"], "expired")
        # The last failure is the refused connection, or the circuit breaker it opened (TOK-003
        # "circuit breaker open ... after NET-001: ...").
        self.assertIn(state["lastError"]["code"], ("NET-001", "TOK-003"))
        self.assertIn("NET-001", state["lastError"]["code"] + state["lastError"]["message"])
        self.assertGreaterEqual(state["fetchFailures"], 1)
        self.assertEqual(self.orthanc.get_json("/dicomweb-oauth/status")["status"], "degraded")
        # Never the expired token, also on the next calls.
        for _ in range(3):
            status, body = self.call("outage")
            self.assertEqual(status, 503, body)
            self.assertEqual(body["error"]["code"], "TOK-001")

        # The IdP comes back: the scheduled retry succeeds with no caller (bounded by the back-off).
        self.idp.start()
        recovered = wait_until(lambda: (s := self.token_state("outage"))["state"] == "valid" and s, 40,
                               "the token engine to recover by itself")
        self.assertGreater(self.idp.token_requests("outage"), calls_before_outage)
        self.assertGreater(recovered["expiresAt"], first["expiresAt"])
        self.assertEqual(self.orthanc.get_json("/dicomweb-oauth/status")["status"], "ok")
        status, body = self.call("outage")
        self.assertEqual(status, 200, body)
        self.assertLess(body["elapsedMs"], 500)  # served from the cache the retry filled
        self.tokens |= issued_tokens(self.idp)

    def test_idp_5xx_is_retried(self):
        before = self.idp.token_requests("flaky")
        self.idp.set_fault(status=503, count=2)
        try:
            status, body = self.call("flaky", fresh=True)
        finally:
            self.idp.clear_faults()
        self.assertEqual(status, 200, body)
        self.assertEqual(self.idp.token_requests("flaky"), before + 3)  # 503, 503, token
        stats = self.idp.stats()["token"]["flaky"]
        self.assertGreaterEqual(stats["faulted"], 2)
        self.tokens |= issued_tokens(self.idp)

    def test_idp_5xx_exhausting_the_retries_is_auth_005(self):
        before = self.idp.token_requests("flaky")
        self.idp.set_fault(status=503)
        try:
            status, body = self.call("flaky", fresh=True)
        finally:
            self.idp.clear_faults()
        self.assertEqual(status, 503, body)
        self.assertRegex(body["error"]["code"], r"^TOK-00[12]$")
        self.assertIn("AUTH-005", body["error"]["message"])
        self.assertIn("temporarily_unavailable", body["error"]["message"])
        self.assertEqual(self.idp.token_requests("flaky"), before + 3)
        # A transient failure is retried in the background once the back-off ends.
        wait_until(lambda: self.token_state("flaky")["state"] == "valid", 15, "the background retry")
        self.assertEqual(self.idp.token_requests("flaky"), before + 4)
        self.tokens |= issued_tokens(self.idp)

    def test_zz_no_secret_in_any_output(self):
        self.tokens |= issued_tokens(self.idp)
        for path in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers", "/dicomweb-oauth/metrics",
                     "/tools/metrics-prometheus"):
            self.texts.append(self.orthanc.rest("GET", path).text)
        self.texts.append(self.orthanc.log_text())
        self.assertTrue(self.tokens)
        secrets = [c.secret for c in self.idp.clients.values()] + sorted(self.tokens)
        assert_no_secret(self, secrets, *self.texts)
        for text in self.texts:
            self.assertIsNone(JWT_SHAPE.search(text), "a JWT shows up in an output")


if __name__ == "__main__":
    testing.main()
