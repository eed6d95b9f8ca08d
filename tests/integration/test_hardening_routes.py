#!/usr/bin/python3
"""Hardening of the plugin's routes against the attack suite's bypasses, in a real Orthanc 1.10.1 +
DICOMweb 1.7 with the gateway, a protected upstream (Orthanc behind nginx admitting only tokens the
IdP vouches for) and small in-process HTTP servers:

- spelling variants of /dicom-web/servers/{name}/{operation} (trailing '/', "//", "%2F", "%73tow",
  dot segments...) meet the client-stage policies (read_only, user_server_acl) like the plain URI;
- a DICOMweb call carrying a method override (X-HTTP-Method-Override in HttpHeaders, `_method`)
  never reaches the upstream as PUT/DELETE: the proxy route refuses it (PXY-011);
- an upstream redirect never leads the loopback secret or the token to another listener (PXY-010),
  and a token endpoint's redirect never leads the client secret there;
- inject-mode servers whose Url has a path prefix get CFG-009 (log and check-config);
- forced token fetches of the test route are bounded per server (503 GW-429 with Retry-After:
  Orthanc 1.10.1 cannot send 429);
- the DICOMweb definitions the gateway owns cannot be re-pointed or removed through the REST API
  (PXY-013, every spelling and method override), and are written again if they drift anyway."""
# gw-test-timeout: 400
import json
import subprocess
import time

from harness import env, testing, wait_until
from harness.http import basic_auth
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import (InProcessServer, LoopbackSecretCapture, QuietHandler, assert_no_secret,
                    gateway_orthanc, oauth_server, proxy_request, raw_http, wait_proxy_definition)

SECRET = "hardening-client-secret-5e93"
ALICE_PASSWORD = "hardening-alice-pw-0b7"
BOB_PASSWORD = "hardening-bob-pw-44c"


class Recorder(InProcessServer):
    """Answers 200 to anything and keeps every request's method, path and headers."""

    class Handler(QuietHandler):
        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.server.owner.requests.append((self.command, self.path, dict(self.headers.items())))
            self.answer(200, b"[]", "application/dicom+json")

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def __init__(self, ws):
        super().__init__(ws)
        self.requests = []


class Redirector(InProcessServer):
    """A DICOMweb 'upstream' that answers every request with 302 to the recorder."""

    class Handler(QuietHandler):
        def handle_any(self):
            owner = self.server.owner
            owner.requests.append((self.command, self.path, dict(self.headers.items())))
            self.send_response(owner.status)
            self.send_header("Location", owner.target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def __init__(self, ws, target, status=302):
        super().__init__(ws)
        self.target, self.status, self.requests = target, status, []


class HardeningRoutes(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # "testable" has a client of its own: the test route's budget is counted in its IdP requests.
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET),
                                                                  IdpClient("orthanc-t", secret=SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.recorder = cls.use_class(Recorder(cls.ws))
        cls.redirector = cls.use_class(Redirector(cls.ws, cls.recorder.url))
        cls.capture = LoopbackSecretCapture(cls.ws)

        def server(url, mode, **over):
            return oauth_server(cls.idp, url, SECRET, mode, orthanc_user=("alice", ALICE_PASSWORD), **over)

        up = cls.upstream.dicomweb_url
        servers = {
            "ro": server(up, "inject", Policies=["read_only"]),
            "acl": server(up, "inject", Policies=["user_server_acl"], PolicyConfig={"AllowedUsers": ["alice"]}),
            "cloud": server(up, "proxy"),
            "redir": server(cls.redirector.url + "/dicom-web/", "proxy"),
            "testable": server(up, "inject", ClientId="orthanc-t"),
            # Its token endpoint answers with a redirect to another listener.
            "idp-redirect": server(up, "inject", TokenEndpoint=cls.redirector.url + "/token"),
        }
        config = cls.capture.config()
        config["ExecuteLuaEnabled"] = True  # the drift test changes a definition past the HTTP filter
        # A server the gateway does not own: Orthanc's own rules apply to it.
        config["DicomWeb"] = {"Servers": {"plain": {"Url": cls.recorder.url + "/dicom-web/"}}}
        cls.a = cls.use_class(gateway_orthanc(
            cls.ws, servers=servers, users={"alice": ALICE_PASSWORD, "bob": BOB_PASSWORD}, config=config))
        for name in ("cloud", "redir"):
            wait_proxy_definition(cls.a, name)
        cls.cloud_secret = cls.capture.secret(cls.a, "cloud")
        # "ro" is written after the token fetches of the servers before it (one of them fails): until
        # then the DICOMweb plugin does not list it at all.
        wait_until(lambda: "Authorization" in
                   cls.a.get_json("/dicom-web/servers?expand").get("ro", {}).get("HttpHeaders", []),
                   20, "the token of ro to be injected")

    # -- helpers ---------------------------------------------------------------------------------

    def raw(self, method, target, user="alice", headers=None, body=b""):
        """One request exactly as given (no client-side normalisation); (status, body text)."""
        password = {"alice": ALICE_PASSWORD, "bob": BOB_PASSWORD}[user]
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" \
               f"Authorization: {basic_auth(user, password)}\r\nContent-Length: {len(body)}\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        status, _, answer = raw_http(self.a.http_port, head + "\r\n", body)
        return status, answer.decode("utf-8", "replace")

    def upstream_entries(self, mark):
        """nginx's access log since `mark`, after a canary QIDO has been logged (so every earlier
        request has been logged too); the canary and the QIDOs of the secret capture are left out."""
        canary = f"canary{time.monotonic_ns()}"
        r = self.a.rest("POST", "/dicom-web/servers/cloud/qido", json={"Uri": "/studies",
                                                                         "Arguments": {"StudyDescription": canary}})
        self.assertEqual(r.status, 200, r.text)
        entries = wait_until(lambda: (lambda e: e if any(canary in x["uri"] for x in e) else None)(
            self.upstream.access_entries()[mark:]), 10, "the canary in the access log")
        return [e for e in entries if canary not in e["uri"] and "limit=1" not in e["uri"]]

    # -- 1. URI spelling variants ----------------------------------------------------------------

    VARIANTS = ["/dicom-web/servers/{s}/{op}", "/dicom-web/servers/{s}/{op}/", "/dicom-web/servers/{s}//{op}",
                "//dicom-web/servers/{s}/{op}", "/dicom-web//servers/{s}/{op}", "/dicom-web/servers%2F{s}%2F{op}",
                "/dicom-web/servers/{s}%2F{op}", "/dicom-web/servers/{s}/{op}%2F", "/dicom-web/servers/{s}/%{hex}{rest}",
                "/dicom-web/servers/{s}/./{op}", "/dicom-web/servers/zz/../{s}/{op}", "/dicom-web/servers/{s}/{op}/.",
                "/dicom-web/servers/{s}/{op}/x/..", "/dicom-web/servers/{s}\\{op}", "/dicom-web/servers/{s}%5C{op}",
                "/./dicom-web/servers/{s}/{op}", "/dicom-web/servers/{s}/{op}%2e", "/dicom-web/servers/{s}/{op}//",
                "/dicom-web/servers/{s}%252F{op}", "/dicom-web/servers/{s}/%25{hex}{rest}",
                "/DICOM-WEB/servers/{s}/{op}", "/dicom-web/%73ervers/{s}/{op}"]

    def variants(self, server, op):
        return [v.format(s=server, op=op, hex=format(ord(op[0]), "x"), rest=op[1:]) for v in self.VARIANTS]

    def test_uri_spelling_variants_meet_client_stage_policies(self):
        # read_only refuses the stow operation at the client stage, whatever the spelling; before the
        # fix a trailing '/' (and the spellings civetweb normalises to it) went past the filter.
        instance = self.a.post_json("/tools/create-dicom", {"Tags": {"PatientID": "hardening-1"}})["ID"]
        body = json.dumps({"Resources": [instance], "Synchronous": True}).encode()
        mark = self.upstream.log_mark()
        log_before = self.a.log_text().count("POL-010")
        for uri in self.variants("ro", "stow"):
            with self.subTest(uri=uri):
                status, text = self.raw("POST", uri, body=body, headers={"Content-Type": "application/json"})
                self.assertNotEqual(status, 200, text[:300])
                self.assertIn(status, (400, 403, 404, 405), text[:300])
        # Each spelling Orthanc routes to the STOW handler was refused by the policy (logged with its code).
        self.assertGreaterEqual(self.a.log_text().count("POL-010") - log_before, 17)
        self.assertEqual([e for e in self.upstream_entries(mark) if e["method"] == "POST"], [])

        # user_server_acl: bob may not use "acl", whatever the spelling; alice may.
        q = json.dumps({"Uri": "/studies", "Arguments": {"limit": "2"}}).encode()
        for uri in self.variants("acl", "qido"):
            with self.subTest(uri=uri, user="bob"):
                status, text = self.raw("POST", uri, user="bob", body=q, headers={"Content-Type": "application/json"})
                self.assertNotEqual(status, 200, text[:300])
        for uri in ("/dicom-web/servers/acl/qido", "/dicom-web/servers/acl/qido/", "/dicom-web/servers/acl//qido"):
            with self.subTest(uri=uri, user="alice"):
                status, text = self.raw("POST", uri, user="alice", body=q, headers={"Content-Type": "application/json"})
                self.assertEqual(status, 200, text[:300])

    def test_unclassifiable_uri_of_a_protected_server_is_refused_with_its_code(self):
        before = self.a.log_text().count("PXY-012")
        status, text = self.raw("POST", "/dicom-web/servers/ro%252Fstow", body=b"{}")
        self.assertEqual(status, 403, text[:300])
        wait_until(lambda: self.a.log_text().count("PXY-012") > before, 5, "PXY-012 in the log")

    # -- 2. method overrides ---------------------------------------------------------------------

    def test_method_override_never_reaches_the_upstream(self):
        mark = self.upstream.log_mark()
        refused_before = self.a.log_text().count("PXY-011")
        calls = [{"Uri": "/studies", "HttpHeaders": {"X-HTTP-Method-Override": "DELETE"}},
                 {"Uri": "/studies", "HttpHeaders": {"X-HTTP-Method-Override": "PUT"}},
                 {"Uri": "/studies", "HttpHeaders": {"x-http-method-override": "delete"}},
                 {"Uri": "/studies", "HttpHeaders": {"X-HTTP-Method": "DELETE"}},
                 {"Uri": "/studies", "HttpHeaders": {"X-Method-Override": "DELETE"}},
                 {"Uri": "/studies", "Arguments": {"_method": "delete"}},
                 {"Uri": "/studies", "Arguments": {"_method": "put"}}]
        for call in calls:
            with self.subTest(call=call):
                r = self.a.rest("POST", "/dicom-web/servers/cloud/get", json=call)
                self.assertNotEqual(r.status, 200, r.text[:300])
        entries = self.upstream_entries(mark)
        self.assertEqual([e for e in entries if e["method"] in ("DELETE", "PUT")], [])
        self.assertEqual([e for e in entries if "_method" in e["uri"]], [])
        # Refused by the route with its code (the DICOMweb plugin reports its own error); an override
        # to PUT of a bodyless GET may already be refused by Orthanc itself (no body length).
        self.assertGreaterEqual(self.a.log_text().count("PXY-011") - refused_before, 5)

    def test_method_override_on_the_route_is_refused_with_a_clear_code(self):
        mark = self.upstream.log_mark()
        for headers, tail in (({"X-HTTP-Method-Override": "DELETE"}, "studies"),
                              ({}, "studies?_method=delete"), ({"X-HTTP-Method-Override": "PUT"}, "studies")):
            with self.subTest(headers=headers, tail=tail):
                r = proxy_request(self.a, "cloud", "GET", tail, secret=self.cloud_secret, headers=headers)
                self.assertEqual(r.status, 400, r.text)
                self.assertEqual(r.json()["error"]["code"], "PXY-011")
        self.assertEqual([e for e in self.upstream_entries(mark) if e["method"] != "GET"], [])

    # -- 3. redirects ----------------------------------------------------------------------------

    def test_upstream_redirect_never_leads_the_secret_or_token_elsewhere(self):
        self.recorder.requests.clear()
        for status in (301, 302, 303, 307, 308):
            self.redirector.status = status
            with self.subTest(status=status):
                for op, call in (("get", {"Uri": "/studies"}), ("qido", {"Uri": "/studies"})):
                    r = self.a.rest("POST", f"/dicom-web/servers/redir/{op}", json=call)
                    self.assertNotEqual(r.status, 200, r.text[:300])
        self.assertTrue(self.redirector.requests, "the redirecting upstream was reached")
        # The configured target got the token (it is the target); the other listener got nothing.
        self.assertEqual(self.recorder.requests, [])
        self.assertIn("PXY-010", self.a.log_text())
        self.redirector.status = 302

    def test_redirect_answer_of_the_route_is_502_with_its_code(self):
        secret_file = self.capture.dir / "redir"
        # The capture filter records the redir secret on the DICOMweb plugin's first call.
        self.a.rest("POST", "/dicom-web/servers/redir/qido", json={"Uri": "/studies"})
        secret = wait_until(lambda: secret_file.exists() and secret_file.read_text(), 10, "the redir secret")
        self.recorder.requests.clear()
        r = proxy_request(self.a, "redir", "GET", "studies", secret=secret)
        self.assertEqual(r.status, 502, r.text)
        self.assertEqual(r.json()["error"]["code"], "PXY-010")
        self.assertIsNone(r.headers.get("Location"))
        self.assertEqual(self.recorder.requests, [])

    def test_token_request_never_follows_a_redirect_with_the_client_secret(self):
        # The token client (a Lua provider's gw.http.request on the gateway's libcurl client) gets a
        # 307 from the token endpoint: following it would resend the client secret to the Location.
        self.recorder.requests.clear()
        for status in (302, 307, 308):
            self.redirector.status = status
            with self.subTest(status=status):
                r = self.a.rest("POST", "/dicomweb-oauth/servers/idp-redirect/test", json={"Fresh": True})
                self.assertNotEqual(r.status, 200, r.text)
                assert_no_secret(self, [SECRET], r.text)
        self.redirector.status = 302
        self.assertTrue(any(path == "/token" for _, path, _ in self.redirector.requests))
        self.assertEqual(self.recorder.requests, [])

    # -- 4. inject mode with a path prefix -------------------------------------------------------

    def test_inject_url_with_path_prefix_warns_cfg_009(self):
        log = self.a.log_text()
        for name in ("ro", "acl", "testable", "idp-redirect"):
            self.assertRegex(log, rf"CFG-009 DicomWebOAuth\.Servers\.{name}\.Url")
        self.assertNotRegex(log, r"CFG-009 DicomWebOAuth\.Servers\.(cloud|redir)\.Url")  # proxy mode
        path = self.ws.path / "cfg-009.json"
        path.write_text(json.dumps({"DicomWebOAuth": {
            "Servers": {"pfx": {"Url": "https://dicom.example.com/tenant-a/dicomWeb/", "Mode": "inject",
                                "TokenEndpoint": "https://idp.example.com/token", "ClientId": "c",
                                "ClientSecret": SECRET},
                        "host": {"Url": "https://dicom2.example.com/", "Mode": "inject",
                                 "TokenEndpoint": "https://idp.example.com/token", "ClientId": "c",
                                 "ClientSecret": SECRET}},
            "ScriptDirectories": [str(env.SOURCE_DIR / "lua")]}}))
        r = subprocess.run([env.cli_path(), "check-config", str(path)], capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin"})
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"warning CFG-009 DicomWebOAuth\.Servers\.pfx\.Url")
        self.assertNotIn("Servers.host.Url", r.stdout)
        assert_no_secret(self, [SECRET], r.stdout, r.stderr)

    # -- 5. test route and owned definitions -----------------------------------------------------

    def test_forced_test_fetches_are_bounded_per_server(self):
        before = self.idp.token_requests("orthanc-t")
        statuses = []
        for _ in range(5):
            r = self.a.rest("POST", "/dicomweb-oauth/servers/testable/test", json={"Fresh": True})
            statuses.append(r.status)
        self.assertEqual(statuses, [200] * 5)
        self.assertEqual(self.idp.token_requests("orthanc-t"), before + 5)
        for _ in range(20):
            r = self.a.rest("POST", "/dicomweb-oauth/servers/testable/test", json={"Fresh": True})
            self.assertEqual(r.status, 503, r.text)  # Orthanc 1.10.1 cannot send 429
            self.assertEqual(r.json()["error"]["code"], "GW-429")
            retry = int(r.headers.get("Retry-After"))
            self.assertTrue(1 <= retry <= 60, retry)
        self.assertEqual(self.idp.token_requests("orthanc-t"), before + 5)
        # The cached token is still there for whoever asks for it; other servers have their own budget.
        self.assertEqual(self.a.rest("POST", "/dicomweb-oauth/servers/testable/test", json={"Fresh": False}).status,
                         200)
        self.assertEqual(self.a.rest("POST", "/dicomweb-oauth/servers/acl/test", json={"Fresh": True}).status, 200)
        # Unknown names are answered 404 without using (or growing) a budget.
        for i in range(10):
            self.assertEqual(self.a.rest("POST", f"/dicomweb-oauth/servers/nope{i}/test").status, 404)

    def definitions(self):
        return self.a.get_json("/dicom-web/servers?expand")

    def test_owned_definitions_cannot_be_repointed_or_removed(self):
        before = self.definitions()
        evil = json.dumps({"Url": self.recorder.url + "/dicom-web/"}).encode()
        attempts = []
        for name in ("cloud", "ro"):
            for uri in (f"/dicom-web/servers/{name}", f"/dicom-web/servers/{name}/", f"//dicom-web/servers/{name}",
                        f"/dicom-web/servers/%{format(ord(name[0]), 'x')}{name[1:]}", f"/dicom-web/servers%2F{name}"):
                attempts += [("PUT", uri, {}, evil), ("DELETE", uri, {}, b""),
                             ("POST", uri, {"X-HTTP-Method-Override": "PUT"}, evil),
                             ("POST", uri, {"X-HTTP-Method-Override": "DELETE"}, b""),
                             ("GET", uri + "?_method=delete", {}, b"")]
        for method, uri, headers, body in attempts:
            with self.subTest(method=method, uri=uri, headers=headers):
                status, text = self.raw(method, uri, headers={"Content-Type": "application/json", **headers}, body=body)
                self.assertEqual(status, 403, text[:300])
        after = self.definitions()
        for name in ("cloud", "ro"):
            self.assertEqual(after[name]["Url"], before[name]["Url"])
            self.assertEqual(after[name]["HttpHeaders"], before[name]["HttpHeaders"])
        self.assertIn("PXY-013", self.a.log_text())
        # A definition the gateway does not own stays Orthanc's business.
        status, text = self.raw("PUT", "/dicom-web/servers/plain", headers={"Content-Type": "application/json"},
                                body=json.dumps({"Url": self.recorder.url + "/other/"}).encode())
        self.assertEqual(status, 200, text)
        self.assertEqual(self.definitions()["plain"]["Url"], self.recorder.url + "/other/")

    def test_drifted_definitions_are_restored(self):
        expected = self.definitions()
        # Past the HTTP filter: an Orthanc Lua script's RestApiPut / RestApiDelete (the REST API, no filter).
        script = ("RestApiPut('/dicom-web/servers/cloud', '{\"Url\": \"%s/dicom-web/\"}')\n"
                  "RestApiPut('/dicom-web/servers/ro', '{\"Url\": \"%s\"}')\n"
                  "RestApiDelete('/dicom-web/servers/redir')\n") % (self.recorder.url, expected["ro"]["Url"])
        r = self.a.rest("POST", "/tools/execute-script", body=script.encode())
        self.assertEqual(r.status, 200, r.text)
        drifted = self.definitions()
        self.assertEqual(drifted["cloud"]["Url"], self.recorder.url + "/dicom-web/")
        self.assertNotIn("redir", drifted)
        self.assertEqual(drifted["ro"]["HttpHeaders"], [])

        def restored():
            now = self.definitions()
            return all(n in now and now[n]["Url"] == expected[n]["Url"] and
                       sorted(now[n]["HttpHeaders"]) == sorted(expected[n]["HttpHeaders"])
                       for n in ("cloud", "ro", "redir")) and now
        wait_until(restored, 30, "the gateway to write its definitions again", interval=0.5)
        self.assertRegex(self.a.log_text(), r"PXY-014 the DICOMweb definition of 'cloud' was changed outside")
        # And they work again: the restored loopback definition carries the secret, the inject one the token.
        self.recorder.requests.clear()
        self.assertEqual(self.a.rest("POST", "/dicom-web/servers/cloud/qido",
                                     json={"Uri": "/studies", "Arguments": {"limit": "1"}}).status, 200)
        self.assertEqual(self.a.rest("POST", "/dicom-web/servers/ro/qido",
                                     json={"Uri": "/studies", "Arguments": {"limit": "1"}}).status, 200)
        self.assertEqual(self.recorder.requests, [])

    def test_zz_no_secret_in_logs(self):
        assert_no_secret(self, [SECRET, ALICE_PASSWORD, BOB_PASSWORD, self.cloud_secret],
                         self.a.log_text(), self.a.rest("GET", "/dicomweb-oauth/status").text,
                         self.a.rest("GET", "/dicomweb-oauth/servers").text)


if __name__ == "__main__":
    testing.main()
