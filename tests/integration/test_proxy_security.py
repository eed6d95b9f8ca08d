#!/usr/bin/python3
"""Proxy mode, who may use the route: /oauth-dicom-web/servers/{name}/ attaches the cloud credential
to what it forwards, so only this Orthanc's own DICOMweb plugin (holding the per-start, per-server
secret header of the loopback definition) may use it, and only for paths under the upstream base.
Every refusal is proven to send nothing upstream (nginx access log)."""
# gw-test-timeout: 300
import itertools
import json
import re
import time

from harness import testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import (LOOPBACK_SECRET_HEADER, LoopbackSecretCapture, assert_no_secret, gateway_orthanc, proxy_request,
                    raw_http)

SECRET = "proxy-security-client-secret-7c41"
ORTHANC_PASSWORD = "proxy-security-orthanc-pw-93a"


def proxy_server(idp, upstream, **over):
    server = {"Url": upstream.dicomweb_url, "TokenEndpoint": idp.token_url(), "ClientId": "orthanc-a",
              "ClientSecret": SECRET, "Scope": "dicomweb", "Resource": "urn:gw-test:dicomweb", "Mode": "proxy"}
    server.update(over)
    return server


# Paths that must never leave the gateway: raw bytes after "/oauth-dicom-web/servers/cloud/".
PATH_ATTACKS = [
    "..", "../other/studies", "studies/../../other/studies", "%2e%2e/%2e%2e/x", "%2E%2e/x", ".%2e/x",
    "%252e%252e/x", "studies%2f..%2f..%2fx", "studies%2F..", "studies/%5c..%5cx", "@evil.example.com/x",
    "http://evil.example.com/x", "http:%2f%2fevil.example.com", "studies%0d%0aX-Injected:%201",
    "studies%00", "studies%23frag", "studies/a%20b", "studies/%C0%AE%C0%AE/x", "studies;x=1",
    "studies/" + "a" * 3000,
]
QUERY_ATTACKS = ["PatientName=a%0d%0aX-Injected:%201", "PatientName=a%0a", "PatientName=a%00", "PatientName=%250d"]


class ProxySecurity(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.capture = LoopbackSecretCapture(cls.ws)
        cls.a = cls.use_class(gateway_orthanc(
            cls.ws, servers={"cloud": proxy_server(cls.idp, cls.upstream, HasDelete=True),
                             "other": proxy_server(cls.idp, cls.upstream),
                             "injected": proxy_server(cls.idp, cls.upstream, Mode="inject")},
            config=cls.capture.config()))
        cls.cloud_secret = cls.capture.secret(cls.a, "cloud")
        cls.other_secret = cls.capture.secret(cls.a, "other")

    _canaries = itertools.count(1)

    def forwarded_since(self, mark):
        """What reached nginx since `mark`, canaries excepted. A canary (a request that does go
        upstream) is sent and awaited first: every earlier request has been logged by then."""
        n = next(self._canaries)
        canary = proxy_request(self.a, "cloud", "GET", f"studies?limit=1&offset={n}", secret=self.cloud_secret)
        self.assertEqual(canary.status, 200, canary.text)

        def logged():
            entries = self.upstream.access_entries()[mark:]
            return entries if any(e["uri"] == f"/dicom-web/studies?limit=1&offset={n}" for e in entries) else None
        entries = wait_until(logged, 10, "the canary in the access log")
        # Canaries, and the QIDOs of the secret capture (their lines may land after a mark).
        return [e for e in entries if not re.match(r"^/dicom-web/studies\?limit=1(&offset=\d+)?$", e["uri"])]

    def refused_without_upstream(self, send, expected_status, expected_code=None):
        """Runs send() -> (status, body text) and checks nothing reached nginx."""
        mark = self.upstream.log_mark()
        status, body = send()
        self.assertEqual(status, expected_status, body[:300])
        if expected_code:
            self.assertEqual(json.loads(body)["error"]["code"], expected_code, body[:300])
        self.assertEqual(self.forwarded_since(mark), [])

    def test_definitions_point_at_the_route_with_a_secret_header(self):
        servers = self.a.get_json("/dicom-web/servers?expand")
        for name in ("cloud", "other"):
            self.assertEqual(servers[name]["Url"], f"http://127.0.0.1:{self.a.http_port}/oauth-dicom-web/servers/{name}/")
            self.assertEqual(servers[name]["HttpHeaders"], [LOOPBACK_SECRET_HEADER])  # names only
            self.assertEqual(str(servers[name].get("ChunkedTransfers")).lower(), "1")
        self.assertEqual(str(servers["cloud"].get("HasDelete")), "1")
        self.assertNotEqual(self.cloud_secret, self.other_secret)
        self.assertRegex(self.cloud_secret, "^[0-9a-f]{64}$")
        # Inject-mode servers are not served by the route.
        r = proxy_request(self.a, "injected", "GET", "studies", secret=self.cloud_secret)
        self.assertEqual(r.status, 404, r.text)
        self.assertEqual(r.json()["error"]["code"], "PXY-002")

    def test_no_secret_header_403_for_every_method(self):
        for method in ("GET", "DELETE", "POST", "PUT"):
            body = b"--x\r\n\r\nbody\r\n--x--" if method in ("POST", "PUT") else None

            def send():
                r = proxy_request(self.a, "cloud", method, "studies", body=body,
                                  headers={"Content-Type": "multipart/related; boundary=x"} if body else None)
                return r.status, r.text
            with self.subTest(method=method):
                self.refused_without_upstream(send, 403, "PXY-006")

    def test_wrong_secret_and_other_servers_secret_403(self):
        for secret in ("0" * 64, self.cloud_secret[:-1], self.cloud_secret + "0", self.other_secret, ""):
            def send():
                r = proxy_request(self.a, "cloud", "GET", "studies", secret=secret)
                return r.status, r.text
            with self.subTest(secret=secret[:6]):
                self.refused_without_upstream(send, 403, "PXY-006")

    def test_chunked_post_without_secret_is_read_and_dropped(self):
        def send():
            body = (b"x" * 65536 for _ in range(64))  # 4 MiB, chunked
            r = proxy_request(self.a, "cloud", "POST", "studies", body=body, chunked=True,
                              headers={"Content-Type": "multipart/related; boundary=x"})
            return r.status, r.text
        self.refused_without_upstream(send, 403, "PXY-006")

    def test_unknown_server_404(self):
        def send():
            r = proxy_request(self.a, "nope", "GET", "studies", secret=self.cloud_secret)
            return r.status, r.text
        self.refused_without_upstream(send, 404, "PXY-002")

    def test_path_attacks_never_leave(self):
        # Orthanc's HTTP server decodes and normalises the URI before any plugin sees it: some
        # attacks become a plain path (e.g. "studies/%5c..%5cx" -> "studies/x", "studies%00" ->
        # "studies"), some leave the route (404), some land on another server's route (403: wrong
        # secret). What reaches the route literally is refused with PXY-001. Whatever the path,
        # nothing outside the upstream base, and nothing unclean, is ever forwarded.
        clean = re.compile(r"^/dicom-web/[A-Za-z0-9._~,-]+(/[A-Za-z0-9._~,-]+)*(\?[^#\s]*)?$")
        refused_by_route = 0
        for attack in PATH_ATTACKS:
            for method in ("GET", "POST"):
                head = (f"{method} /oauth-dicom-web/servers/cloud/{attack} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        f"{LOOPBACK_SECRET_HEADER}: {self.cloud_secret}\r\nConnection: close\r\n")
                body = b""
                if method == "POST":
                    body = b"--x\r\n\r\nbody\r\n--x--\r\n"
                    head += f"Content-Type: multipart/related; boundary=x\r\nContent-Length: {len(body)}\r\n"
                head += "\r\n"
                with self.subTest(attack=attack, method=method):
                    mark = self.upstream.log_mark()
                    status, _, answer = raw_http(self.a.http_port, head, body)
                    text = answer.decode("utf-8", "replace")
                    if "PXY-001" in text:
                        self.assertEqual(status, 400, text[:300])
                        refused_by_route += 1
                    forwarded = self.forwarded_since(mark)
                    for entry in forwarded:
                        self.assertRegex(entry["uri"], clean)
                        self.assertNotIn("..", entry["uri"].split("?")[0].split("/"))
                    if not forwarded:
                        self.assertIn(status, (400, 403, 404), text[:300])
        self.assertGreaterEqual(refused_by_route, 20)

    def test_query_attacks_refused(self):
        for attack in QUERY_ATTACKS:
            head = (f"GET /oauth-dicom-web/servers/cloud/studies?{attack} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"{LOOPBACK_SECRET_HEADER}: {self.cloud_secret}\r\nConnection: close\r\n\r\n")

            def send():
                status, _, answer = raw_http(self.a.http_port, head)
                return status, answer.decode("utf-8", "replace")
            with self.subTest(attack=attack):
                self.refused_without_upstream(send, 400, "PXY-001")

    def test_dot_segments_cannot_reach_another_servers_route(self):
        # Orthanc normalises "cloud/../other/" to "other/": the secret of cloud is then wrong.
        head = (f"GET /oauth-dicom-web/servers/cloud/%2e%2e/other/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"{LOOPBACK_SECRET_HEADER}: {self.cloud_secret}\r\nConnection: close\r\n\r\n")

        def send():
            status, _, answer = raw_http(self.a.http_port, head)
            return status, answer.decode("utf-8", "replace")
        self.refused_without_upstream(send, 403, "PXY-006")

    def test_dicomweb_plugin_get_with_attack_uris_never_leaves(self):
        # The same attacks, through the legitimate client (which adds the secret itself).
        for uri in ("/../../other/studies", "/%2e%2e/%2e%2e/x", "/studies%0d%0aX:1", "/@evil/x", "/studies%2f..",
                    "/http://evil.example.com/x"):
            def send():
                r = self.a.rest("POST", "/dicom-web/servers/cloud/get", json={"Uri": uri})
                return (400 if r.status >= 400 else r.status), r.text
            with self.subTest(uri=uri):
                self.refused_without_upstream(send, 400)

    def test_client_authorization_is_never_forwarded(self):
        mark = self.upstream.log_mark()
        r = proxy_request(self.a, "cloud", "GET", "studies?limit=1", secret=self.cloud_secret,
                          headers={"Authorization": "Bearer attacker-chosen-token", "Cookie": "session=x"})
        self.assertEqual(r.status, 200, r.text)
        entry = self.upstream.new_entries(mark)[0]
        self.assertEqual(entry["auth"], "active")  # the gateway's token, not the caller's

    def test_no_secret_in_logs_or_pages(self):
        pages = [self.a.rest("GET", p).body for p in
                 ("/dicomweb-oauth/status", "/dicomweb-oauth/servers", "/dicom-web/servers?expand")]
        assert_no_secret(self, [SECRET, self.cloud_secret, self.other_secret], self.a.log_text(), *pages)

    # -- configuration: each test starts its own Orthanc --------------------------------------

    def test_python_plugin_configuration_works_unchanged_with_orthanc_authentication(self):
        # The Python plugin's documented set-up: DicomWeb.Servers.<name> points at the proxy route
        # with Orthanc credentials (AuthenticationEnabled), DicomWebOAuth.Servers.<name> holds the
        # real upstream. The gateway rewrites the definition (127.0.0.1, its port, the secret) and
        # keeps the credentials, which authenticate the loopback call and never go upstream.
        a = self.use(gateway_orthanc(
            self.ws, name="python-compat", users={"orthanc": ORTHANC_PASSWORD},
            servers={"cloud": proxy_server(self.idp, self.upstream)},
            dicomweb={"Servers": {"cloud": {"Url": "http://localhost:8042/oauth-dicom-web/servers/cloud/",
                                            "Username": "orthanc", "Password": ORTHANC_PASSWORD}}}))
        server = wait_until(lambda: (lambda s: s if "127.0.0.1" in s["Url"] else None)(
            a.get_json("/dicom-web/servers?expand")["cloud"]), 15, "the loopback definition")
        self.assertEqual(server["Url"], f"http://127.0.0.1:{a.http_port}/oauth-dicom-web/servers/cloud/")
        self.assertEqual(server.get("Username"), "orthanc")
        mark = self.upstream.log_mark()
        r = a.rest("POST", "/dicom-web/servers/cloud/qido", json={"Uri": "/studies"})
        self.assertEqual(r.status, 200, r.text)
        entry = self.upstream.new_entries(mark)[0]
        self.assertEqual(entry["auth"], "active")
        self.assertNotIn("CFG-008", a.log_text())  # the kept credentials satisfy the start-up check
        # What a probe or script written for the Python plugin reads from its routes (its API 2.0).
        status = a.get_json("/dicomweb-oauth/status")
        self.assertEqual(status["api_version"], "2.0")
        self.assertEqual(status["data"]["status"], "healthy")
        self.assertEqual(status["data"]["servers_configured"], 1)
        self.assertEqual(status["data"]["token_managers"], 1)
        servers = a.get_json("/dicomweb-oauth/servers")["data"]["servers"]
        self.assertEqual([(s["name"], s["has_cached_token"], s["token_valid"]) for s in servers],
                         [("cloud", True, True)])
        self.assertEqual(servers[0]["token_endpoint"], self.idp.token_url())
        r = a.rest("POST", "/dicomweb-oauth/servers/cloud/test")
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual({k: r.json()[k] for k in ("server", "status", "token_acquired", "has_token")},
                         {"server": "cloud", "status": "success", "token_acquired": True, "has_token": True})
        pages = [a.rest("GET", p).body for p in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers")]
        assert_no_secret(self, [ORTHANC_PASSWORD, SECRET], a.log_text(), r.body, *pages)

    def test_python_plugin_configuration_without_mode_is_served_in_inject_mode(self):
        # The Python plugin had no `Mode`: its users' configuration, copied as it is, has none. The
        # gateway then serves the server in inject mode: the definition that pointed at the route
        # now names the real upstream with a fresh bearer token, and the Orthanc credentials of that
        # definition stay out of it.
        server = proxy_server(self.idp, self.upstream)
        del server["Mode"]
        a = self.use(gateway_orthanc(
            self.ws, name="python-compat-inject", users={"orthanc": ORTHANC_PASSWORD},
            servers={"cloud": server},
            dicomweb={"Servers": {"cloud": {"Url": "http://localhost:8042/oauth-dicom-web/servers/cloud/",
                                            "Username": "orthanc", "Password": ORTHANC_PASSWORD}}}))
        self.assertEqual(a.get_json("/dicomweb-oauth/servers")["servers"][0]["mode"], "inject")
        upstream_url = self.upstream.dicomweb_url.rstrip("/") + "/"
        defined = wait_until(lambda: (lambda s: s if s["Url"] == upstream_url else None)(
            a.get_json("/dicom-web/servers?expand")["cloud"]), 15, "the upstream definition")
        self.assertNotIn("oauth-dicom-web", json.dumps(defined))
        # The Orthanc user of that entry was for the route: it is not carried into a definition
        # bound for the upstream.
        self.assertNotIn("Username", defined)
        mark = self.upstream.log_mark()
        r = a.rest("POST", "/dicom-web/servers/cloud/qido", json={"Uri": "/studies"})
        self.assertEqual(r.status, 200, r.text)
        entry = self.upstream.new_entries(mark)[0]
        self.assertEqual(entry["auth"], "active")  # the bearer token arrived, not Orthanc's Basic credentials
        self.assertEqual(a.get_json("/dicomweb-oauth/status")["data"]["status"], "healthy")
        assert_no_secret(self, [ORTHANC_PASSWORD, SECRET], a.log_text())

    def test_orthanc_authentication_without_a_loopback_user_is_warned_at_start(self):
        # AuthenticationEnabled and a proxy-mode server whose definition has no Orthanc user: every
        # loopback call would get Orthanc's 401. The start-up log says so, with what to add.
        a = self.use(gateway_orthanc(
            self.ws, name="auth-no-user", users={"orthanc": ORTHANC_PASSWORD},
            servers={"cloud": proxy_server(self.idp, self.upstream)}))
        log = a.wait_log("CFG-008")
        line = next(l for l in log.splitlines() if "CFG-008" in l)
        self.assertIn("DicomWebOAuth.Servers.cloud.Username", line)
        self.assertIn('add "Username" and "Password"', line)
        # And the warning is right: the DICOMweb plugin's call is refused before the gateway.
        mark = self.upstream.log_mark()
        r = a.rest("POST", "/dicom-web/servers/cloud/qido", json={"Uri": "/studies"})
        self.assertNotEqual(r.status, 200, r.text)
        self.assertIn("401", a.log_text())  # Orthanc's answer to the DICOMweb plugin's loopback call
        time.sleep(1)  # an upstream line would be written just after its answer
        self.assertEqual(self.upstream.access_entries()[mark:], [])
        assert_no_secret(self, [ORTHANC_PASSWORD, SECRET], a.log_text())

    def test_servers_in_database_refused_unless_allowed(self):
        refused = gateway_orthanc(self.ws, name="in-db", servers={"cloud": proxy_server(self.idp, self.upstream)},
                                  dicomweb={"ServersInDatabase": True})
        code, log = refused.start_expecting_failure()
        self.assertNotEqual(code, 0)
        self.assertIn("CFG-002", log)
        self.assertIn("ServersInDatabase", log)
        allowed = self.use(gateway_orthanc(self.ws, name="in-db-allowed",
                                           servers={"cloud": proxy_server(self.idp, self.upstream)},
                                           dicomweb={"ServersInDatabase": True},
                                           section={"AllowInjectWithServersInDatabase": True}))
        r = allowed.rest("POST", "/dicom-web/servers/cloud/qido", json={"Uri": "/studies"})
        self.assertEqual(r.status, 200, r.text)

    def test_reserved_extra_header_refused_at_start(self):
        bad = gateway_orthanc(self.ws, name="bad-header",
                              servers={"cloud": proxy_server(self.idp, self.upstream,
                                                             HttpHeaders={"Host": "evil.example.com"})})
        code, log = bad.start_expecting_failure()
        self.assertNotEqual(code, 0)
        self.assertIn("CFG-002", log)
        self.assertIn("HttpHeaders", log)


if __name__ == "__main__":
    testing.main()
