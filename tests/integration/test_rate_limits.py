#!/usr/bin/python3
"""RateLimitRequests / RateLimitWindowSeconds (docs/operations.md#rate-limits), parsed since the
start but never enforced, in a real Orthanc 1.10.1 + DICOMweb 1.7 with the gateway, the test IdP
and a protected upstream (Orthanc behind nginx admitting only tokens the IdP vouches for):

- upstream stage (proxy mode): once a server's budget is used, the proxy route answers 503 (Orthanc
  1.10.1 cannot send 429) with `Retry-After` and PXY-015, and the request never reaches the upstream;
- client stage (both modes): a DICOMweb client call over the budget is refused by the incoming
  filter (Orthanc answers a bare 403, PXY-015 with the wait in the log);
- every other server keeps its own budget, and refusals are counted in
  dicomweb_oauth_rate_limited_total{server,stage}."""
# gw-test-timeout: 180
import re
import time

from harness import testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import (LoopbackSecretCapture, assert_no_secret, gateway_orthanc, oauth_server, proxy_request,
                    wait_proxy_definition)

SECRET = "ratelimit-client-secret-71c2"
BUDGET = 3
WINDOW = 120  # seconds: longer than the test, so no pass leaves the window while it runs


class RateLimits(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.capture = LoopbackSecretCapture(cls.ws)
        up = cls.upstream.dicomweb_url
        servers = {name: oauth_server(cls.idp, up, SECRET, mode)
                   for name, mode in (("prx-a", "proxy"), ("prx-b", "proxy"), ("prx-c", "proxy"),
                                      ("inj-a", "inject"), ("inj-b", "inject"),
                                      # canaries of the access log, one per use (each has a budget too)
                                      ("cnr-1", "inject"), ("cnr-2", "inject"))}
        cls.a = cls.use_class(gateway_orthanc(
            cls.ws, servers=servers, config=cls.capture.config(),
            section={"RateLimitRequests": BUDGET, "RateLimitWindowSeconds": WINDOW}))
        for name in ("prx-a", "prx-b", "prx-c"):
            wait_proxy_definition(cls.a, name)
        wait_until(lambda: all("Authorization" in d["HttpHeaders"] for n, d in
                               cls.a.get_json("/dicom-web/servers?expand").items() if n.startswith(("inj-", "cnr-"))),
                   20, "the tokens of the inject-mode servers")
        cls.secrets = {}

    # -- helpers ---------------------------------------------------------------------------------

    def secret(self, server):
        if server not in self.secrets:
            self.secrets[server] = self.capture.secret(self.a, server)
        return self.secrets[server]

    def qido(self, server, marker="x"):
        return self.a.rest("POST", f"/dicom-web/servers/{server}/qido",
                           json={"Uri": "/studies", "Arguments": {"StudyDescription": marker}})

    def refused_total(self, server, stage):
        text = self.a.rest("GET", "/dicomweb-oauth/metrics").text
        m = re.search(r'^dicomweb_oauth_rate_limited_total\{server="%s",stage="%s"\} (\d+)' %
                      (re.escape(server), stage), text, re.M)
        return int(m.group(1)) if m else None

    def upstream_uris_after(self, mark, canary_server):
        """nginx's access log since `mark`, once a canary QIDO sent through the inject-mode
        `canary_server` has been logged (nginx writes a line after its answer: every earlier request
        is in the log then)."""
        canary = f"canary{time.monotonic_ns()}"
        r = self.qido(canary_server, canary)
        self.assertEqual(r.status, 200, r.text)
        entries = wait_until(lambda: (lambda e: e if any(canary in x["uri"] for x in e) else None)(
            self.upstream.access_entries()[mark:]), 10, "the canary in the access log")
        return [e["uri"] for e in entries]

    # -- tests -----------------------------------------------------------------------------------

    def test_proxy_route_over_budget_answers_retry_after_and_never_goes_upstream(self):
        secret = self.secret("prx-a")  # one QIDO through the route: one pass of prx-a's budget
        mark = len(self.upstream.access_entries())
        statuses = []
        for i in range(BUDGET + 1):
            r = proxy_request(self.a, "prx-a", "GET", f"studies?StudyDescription=limited{i}", secret=secret)
            statuses.append(r.status)
            if r.status != 200:
                break
        self.assertEqual(statuses[-1], 503, statuses)  # Orthanc 1.10.1 cannot send 429 (StatusMap.h)
        self.assertTrue(all(s == 200 for s in statuses[:-1]) and len(statuses) <= BUDGET, statuses)
        self.assertEqual(r.json()["error"]["code"], "PXY-015")
        self.assertIn("'prx-a'", r.json()["error"]["message"])
        retry = int(r.headers.get("Retry-After"))
        self.assertTrue(1 <= retry <= WINDOW, retry)
        # Refused again while the window lasts, by the route and for a body-carrying POST (STOW) too.
        again = proxy_request(self.a, "prx-a", "GET", "studies?StudyDescription=refused-again", secret=secret)
        self.assertEqual((again.status, again.json()["error"]["code"]), (503, "PXY-015"))
        stow = proxy_request(self.a, "prx-a", "POST", "studies", secret=secret, body=b"--x--\r\n",
                             headers={"Content-Type": "multipart/related; type=\"application/dicom\"; boundary=x"},
                             chunked=True)
        self.assertEqual((stow.status, stow.json()["error"]["code"]), (503, "PXY-015"), stow.text)
        self.assertTrue(1 <= int(stow.headers.get("Retry-After")) <= WINDOW)
        # Through the DICOMweb plugin (the client stage still has budget): the route's refusal reaches
        # the Orthanc user as the plugin reports it.
        via = self.qido("prx-a", "via-plugin")
        self.assertEqual(via.status, 500, via.text)
        self.assertIn("PXY-015", self.a.log_text())
        # The refused requests never reached the upstream; the passed ones did.
        uris = self.upstream_uris_after(mark, "cnr-1")
        self.assertEqual(sum(f"limited{i}" in u for u in uris for i in range(len(statuses) - 1)),
                         len(statuses) - 1, uris)
        self.assertFalse(any(f"limited{len(statuses) - 1}" in u or "refused-again" in u or "via-plugin" in u
                             for u in uris), uris)
        self.assertFalse(any(e["method"] == "POST" for e in self.upstream.access_entries()[mark:]))
        self.assertGreaterEqual(self.refused_total("prx-a", "upstream"), 3)
        # Another server's budget is its own.
        self.assertEqual(proxy_request(self.a, "prx-b", "GET", "studies?StudyDescription=b",
                                       secret=self.secret("prx-b")).status, 200)
        self.assertEqual(self.refused_total("prx-b", "upstream"), 0)
        self.assertRegex(self.a.log_text(), r"proxy: GET for server 'prx-a' refused: PXY-015")

    def test_client_calls_over_budget_are_refused_in_inject_mode(self):
        statuses = [self.qido("inj-a").status for _ in range(BUDGET + 2)]
        self.assertEqual(statuses, [200] * BUDGET + [403, 403])  # the filter's refusal is a bare 403
        self.assertRegex(self.a.log_text(), r"rate limit \(client stage\): refusing /dicom-web/servers/inj-a/qido "
                                            r"\(POST, HTTP 429 answered as 403\): PXY-015: server 'inj-a' has used "
                                            r"its 3 requests of the last 120 s .* retry in \d+ s")
        self.assertEqual(self.refused_total("inj-a", "client"), 2)
        # inj-b has a budget of its own.
        self.assertEqual([self.qido("inj-b").status for _ in range(BUDGET)], [200] * BUDGET)
        self.assertEqual(self.refused_total("inj-b", "client"), 0)

    def test_client_calls_over_budget_are_refused_in_proxy_mode(self):
        mark = len(self.upstream.access_entries())
        statuses = [self.qido("prx-c", f"client{i}").status for i in range(BUDGET + 1)]
        self.assertEqual(statuses, [200] * BUDGET + [403])
        self.assertEqual(self.refused_total("prx-c", "client"), 1)
        # Refused before the DICOMweb plugin sent anything to the route: nothing went upstream.
        uris = self.upstream_uris_after(mark, "cnr-2")
        self.assertFalse(any(f"client{BUDGET}" in u for u in uris), uris)
        self.assertEqual(sum(any(f"client{i}" in u for u in uris) for i in range(BUDGET)), BUDGET, uris)

    def test_zz_no_secret_in_logs(self):
        assert_no_secret(self, [SECRET, *self.secrets.values()], self.a.log_text(),
                         self.a.rest("GET", "/dicomweb-oauth/metrics").text,
                         self.a.rest("GET", "/dicomweb-oauth/status").text)


if __name__ == "__main__":
    testing.main()
