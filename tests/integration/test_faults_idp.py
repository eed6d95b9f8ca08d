#!/usr/bin/python3
"""Faults under load: the identity provider flapping (unreachable, back, unreachable...) and slow
(every answer 10 s late) while STOW and QIDO run through both modes. The gateways reach the IdP
through a TcpFaultProxy (connection refused while "down", open connections reset); the upstream's
token introspection reaches the IdP directly, so only the gateway's view of the IdP fails. Tokens
live TTL s: refreshes fall into the faults. Requests keep succeeding on cached tokens, tokens are
refreshed when the IdP answers again, and no request waits beyond the documented 15 s credential
bound. Load duration: GW_FAULT_SECONDS (CI default below); the figures are printed."""
# gw-test-timeout: 240
import time

from harness import testing, wait_until
from harness.faults import Load, TcpFaultProxy, qido_op, seconds_from_env, stow_op
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import assert_no_secret, gateway_orthanc, oauth_server, wait_proxy_definition

SECRET = "faults-idp-client-secret-3a9d"
TTL = 12
CREDENTIAL_BOUND_MS = 15000  # docs/inject-mode.md, ForwarderOptions::credentialTimeout


class IdpFaultsUnderLoad(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET,
                                                                            access_token_ttl=TTL)]))
        cls.link = cls.use_class(TcpFaultProxy(cls.ws, cls.idp.port, name="idp-link"))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        # A 5 s open period keeps the test short: recovery after an outage past expiry (test_3)
        # waits for the circuit's probe. (While a token is cached, an open circuit probes before the
        # token becomes unusable whatever this value: docs/token-engine.md.)
        over = {"TokenEndpoint": cls.link.url + "/token", "ResilienceConfig": {"CircuitBreakerTimeout": 5}}
        servers = {"inj": oauth_server(cls.idp, cls.upstream.dicomweb_url, SECRET, mode="inject", **over),
                   "prx": oauth_server(cls.idp, cls.upstream.dicomweb_url, SECRET, mode="proxy", **over)}
        # A provider call gets LuaTimeoutMs (default 5 s) and its HTTP request with it: an IdP that
        # answers after 10 s needs more (with the default every attempt ends LUA-004).
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers=servers, section={"LuaTimeoutMs": 15000}))
        wait_proxy_definition(cls.a, "prx")
        cls.texts = []

    def setUp(self):
        self.link.up()
        self.link.set_delay(0)

    def load(self, tag):
        load = Load()
        for mode in ("inj", "prx"):
            load.loop(f"stow/{mode}", stow_op(self.a, mode, f"{tag}-{mode}"))
            load.loop(f"qido/{mode}", qido_op(self.a, mode, f"{tag}-{mode}"), pause=0.1)
        return load

    def token_state(self, server):
        return self.a.get_json("/dicomweb-oauth/status")["servers"]["states"][server]["token"]

    def test_1_idp_flapping(self):
        duration = seconds_from_env(20)
        down_s, up_s = 3.0, 4.0
        calls_before = self.idp.token_requests("orthanc-a")
        load = self.load("FLAP")
        t0 = time.monotonic()
        load.start()
        downs, returns = [], []
        try:
            while time.monotonic() - t0 < duration:
                time.sleep(up_s)
                self.link.down()
                downs.append(time.monotonic())
                time.sleep(down_s)
                self.link.up()
                returns.append(time.monotonic())
        finally:
            self.link.up()
            load.stop()
        ended = time.monotonic()
        calls = self.idp.token_requests("orthanc-a") - calls_before
        print(load.report(f"IdP flapping ({down_s:g} s down / {up_s:g} s up, {len(downs)} outages, load "
                          f"{ended - t0:.1f} s, tokens of {TTL} s, {calls} IdP token requests)",
                          [("down", d, r) for d, r in zip(downs, returns)][:1]))
        failures = load.failures()
        self.assertEqual(failures, [], f"{len(failures)} operations failed: {failures[:5]}")
        for op in load.ops():
            self.assertLess(load.figures(op)["max_ms"], CREDENTIAL_BOUND_MS, op)
            self.assertGreater(sum(load.figures(op, d, r)["count"] for d, r in zip(downs, returns)), 0,
                               f"no {op} ran while the IdP was down")
        # Several lifetimes went by: the tokens were refreshed in the up windows.
        self.assertGreaterEqual(calls, int((ended - t0) // TTL))
        for server in ("inj", "prx"):
            # A retry started in the last outage may still be running (state "refreshing"): it ends
            # within the retry budget now that the IdP is back.
            wait_until(lambda: self.token_state(server)["state"] == "valid", 15, f"{server}: a valid token",
                       interval=0.2)

    def test_2_idp_slow(self):
        # Every IdP answer comes 10 s late, from just after a fresh token until after its refresh was
        # due; then the IdP answers promptly again. Requests go on with the cached token meanwhile.
        # (The refresh cannot succeed while the IdP is that slow: the provider's HTTP request gives up
        # after 10 s, gw.http.request's default; docs/operations.md.)
        # (a fetch still running from an earlier test would be joined by the fresh one: wait it out)
        wait_until(lambda: self.token_state("inj")["state"] == "valid", 30, "a cached token", interval=0.2)
        r = self.a.rest("POST", "/dicomweb-oauth/servers/inj/test", json={"Fresh": True})
        self.assertEqual(r.status, 200, r.text)
        calls_before = self.idp.token_requests("orthanc-a")
        self.link.set_delay(10.0)
        load = self.load("SLOW")
        t0 = time.monotonic()
        load.start()
        try:
            time.sleep(TTL * 0.75)  # the refresh (at about half the life) hangs; the token is valid
            self.link.set_delay(0)
            back = time.monotonic()
            time.sleep(seconds_from_env(TTL))
        finally:
            load.stop()
            self.link.set_delay(0)
        ended = time.monotonic()
        calls = self.idp.token_requests("orthanc-a") - calls_before
        print(load.report(f"IdP answering after 10 s for {back - t0:.1f} s then promptly (load {ended - t0:.1f} s, "
                          f"tokens of {TTL} s, {calls} IdP token requests)",
                          [("slow", t0, back), ("back", back, ended)]))
        failures = load.failures()
        self.assertEqual(failures, [], f"{len(failures)} operations failed: {failures[:5]}")
        for op in load.ops():
            self.assertLess(load.figures(op)["max_ms"], CREDENTIAL_BOUND_MS, op)
            # While the token is valid no request waits for the slow refresh, in either mode.
            self.assertLess(load.figures(op, t0, back)["max_ms"], 3000, op)
        self.assertGreater(calls, 0)
        for server in ("inj", "prx"):
            wait_until(lambda: self.token_state(server)["state"] == "valid", 15, f"{server}: a valid token",
                       interval=0.2)

    def test_3_idp_down_past_expiry_gives_clear_codes_then_recovers(self):
        # Past the token's life with the IdP unreachable: clear refusals, never a stale token.
        wait_until(lambda: self.token_state("prx")["state"] == "valid", 20, "a cached token")
        r = self.a.rest("POST", "/dicomweb-oauth/servers/prx/test", json={"Fresh": True})  # a full life ahead
        self.assertEqual(r.status, 200, r.text)
        self.link.down()
        try:
            # An operator's fresh test while the IdP is unreachable fails with the cause, and the
            # cached token keeps serving traffic (the test route once dropped it first).
            r = self.a.rest("POST", "/dicomweb-oauth/servers/prx/test", json={"Fresh": True})
            self.assertEqual(r.status, 503, r.text)
            self.assertEqual(r.json()["error"]["code"], "TOK-002", r.text)
            self.assertIn("the cached token stays in use", r.text)
            r = self.a.rest("POST", "/dicom-web/servers/prx/qido", json={"Uri": "/studies"})
            self.assertEqual(r.status, 200, r.text)
            wait_until(lambda: self.token_state("prx")["state"] == "expired", TTL + 10, "the token to expire",
                       interval=0.5)
            t = time.monotonic()
            r = self.a.rest("POST", "/dicom-web/servers/prx/qido", json={"Uri": "/studies"})
            prx_ms = (time.monotonic() - t) * 1000
            self.assertNotEqual(r.status, 200, r.text)
            self.a.wait_log("TOK-001")
            t = time.monotonic()
            r = self.a.rest("POST", "/dicom-web/servers/inj/qido", json={"Uri": "/studies"})
            inj_ms = (time.monotonic() - t) * 1000
            self.assertEqual(r.status, 403, r.text)  # the filter's refusal; the code is in the log
            log = self.a.wait_log("inject mode: refusing /dicom-web/servers/inj/qido")
            self.assertRegex(log, r"refusing /dicom-web/servers/inj/qido \(POST, HTTP 503 answered as 403\): TOK-00[12]")
            print(f"== IdP down past expiry: proxy QIDO refused in {prx_ms:.0f} ms, inject QIDO in {inj_ms:.0f} ms")
            self.assertLess(prx_ms, CREDENTIAL_BOUND_MS)
            self.assertLess(inj_ms, CREDENTIAL_BOUND_MS)
        finally:
            self.link.up()
        back = time.monotonic()
        # The IdP is back: service resumes without a caller's help (the scheduled retry), once the
        # circuit (5 s) lets a probe through and the back-off ends: not a minute later.
        wait_until(lambda: self.token_state("prx")["state"] == "valid", 30, "the token engine to recover",
                   interval=0.2)
        recovered_s = time.monotonic() - back
        print(f"== IdP back: token valid again after {recovered_s:.1f} s, without any caller")
        self.assertLess(recovered_s, 20)
        r = self.a.rest("POST", "/dicom-web/servers/prx/qido", json={"Uri": "/studies"})
        self.assertEqual(r.status, 200, r.text)

    def test_zz_no_secret_in_any_output(self):
        assert_no_secret(self, [SECRET], self.a.log_text(), self.a.rest("GET", "/dicomweb-oauth/status").text)


if __name__ == "__main__":
    testing.main()
