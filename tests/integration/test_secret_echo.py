#!/usr/bin/python3
"""An identity provider that echoes the whole token request (form body and Authorization header) in
its error answer must not make the gateway show a client secret in any spelling. The real IdP
fixture's echo fault answers 400/401 with the request as it arrived: the secret form-encoded
(client_secret_post) and the Basic credential in base64 (client_secret_basic), in error_description,
in the error code itself, or as a text/plain body. Every sink is scanned for the secret and its
encoded forms: the test route's answer, Orthanc's log, the audit file, the status pages, and the
`dicomweb-oauth token` command's output."""
# gw-test-timeout: 300
import base64
import json
import re
import subprocess
import urllib.parse

from harness import env, testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from gwtest import assert_no_secret, gateway_orthanc

UPSTREAM = "http://127.0.0.1:9/dicom-web/"  # never contacted: only tokens are acquired
HASH_KEY = "secret-echo-audit-hash-key-0042"
# Characters every encoding treats differently: '+', '/', space, '~', '"', '\', a non-ASCII letter, '*'.
POST_SECRET = 'Echo+Post/ secret~"1\\\u00e9*-' + "p" * 8
BASIC_SECRET = 'Echo+Basic/ secret~"2\\\u00e9*-' + "b" * 8
# scenario -> (echo mode of the IdP fixture, HTTP status, error code the gateway reports)
SCENARIOS = {"desc": ("description", 401, "AUTH-001"), "code": ("error", 400, "AUTH-002"),
             "raw400": ("raw", 400, "AUTH-002"), "raw401": ("raw", 401, "AUTH-001")}


def spellings(client_id, secret):
    """The secret as a careless IdP may quote it: literal, form- and percent-encoded (both hex
    cases), JSON-escaped, base64 / base64url, and the HTTP Basic credential of RFC 6749 2.3.1."""
    form = urllib.parse.quote_plus(secret, safe="")
    percent = urllib.parse.quote(secret, safe="")
    lower = [re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), s) for s in (form, percent)]
    raw = secret.encode()
    pair = f"{urllib.parse.quote_plus(client_id, safe='')}:{form}".encode()
    return {secret, form, percent, *lower,
            json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
            base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("="),
            pair.decode(), base64.b64encode(pair).decode()}


class EchoingIdp(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # One client (and server) per scenario: servers with the same client share one cached token
        # and its back-off after a failure, so each scenario needs its own to reach the IdP.
        clients = [IdpClient(f"echo-{kind}-{scenario}", f"client_secret_{kind}", secret=secret)
                   for kind, secret in (("post", POST_SECRET), ("basic", BASIC_SECRET)) for scenario in SCENARIOS]
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=clients))
        cls.forms = set()
        for c in clients:
            cls.forms |= spellings(c.client_id, c.secret)
        cls.audit_file = cls.ws.dir("audit") / "audit.jsonl"
        cls.servers = {
            c.client_id: {"Url": UPSTREAM, "Mode": "proxy", "TokenEndpoint": cls.idp.token_url(),
                          "ClientId": c.client_id, "ClientAuthMethod": c.auth_method, "ClientSecret": c.secret}
            for c in clients}
        section = {"Audit": {"File": str(cls.audit_file), "HashKey": HASH_KEY, "FsyncIntervalMs": 0}}
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, servers=cls.servers, section=section))
        cls.cli_config = cls.ws.path / "cli-orthanc.json"
        cls.cli_config.write_text(json.dumps({"DicomWebOAuth": {
            "Servers": cls.servers, "ScriptDirectories": [str(env.SOURCE_DIR / "lua")]}}, indent=2))

    def tearDown(self):
        self.idp.clear_faults()

    def route_error(self, name, expect_code):
        r = self.orthanc.rest("POST", f"/dicomweb-oauth/servers/{name}/test", json={"Fresh": True})
        self.assertEqual(r.status, 503, r.text)
        error = r.json()["error"]
        self.assertIn(expect_code, error["code"] + " " + error["message"])
        return r.text

    def audit_failures(self, count):
        def enough():
            if not self.audit_file.exists():
                return None
            lines = [json.loads(line) for line in self.audit_file.read_text(encoding="utf-8").splitlines()]
            failed = [r for r in lines if r.get("event") == "token.failed" or r.get("type") == "token.failed"]
            return lines if len(failed) >= count else None
        return wait_until(enough, 20, f"{count} token.failed audit records")

    def run_cli(self, server):
        return subprocess.run([env.cli_path(), "token", "--config", str(self.cli_config), "--server", server],
                              capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})

    def test_echoed_request_never_shows_the_secret_in_any_sink(self):
        texts = []
        for scenario, (mode, status, code) in SCENARIOS.items():
            self.idp.set_fault(status=status, echo=mode)
            for client in ("echo-post", "echo-basic"):
                with self.subTest(client=client, echo=mode, status=status):
                    before = len(self.idp.events())
                    answer = self.route_error(f"{client}-{scenario}", code)
                    # The IdP was asked, and answered with the echo.
                    self.assertGreater(len(self.idp.events()), before)
                    if mode == "description":
                        # error_description is quoted (bounded, printable) with the credential masked
                        self.assertIn("error=invalid_client", answer)
                        self.assertIn("client_secret=***" if client == "echo-post" else "Basic ***", answer)
                    else:
                        # an invalid error code or a non-JSON body: none of its text is quoted
                        self.assertNotIn("rejected POST", answer)
                    texts.append(answer)
        # The CLI sees the same IdP answers (its configuration has the same servers).
        self.idp.set_fault(status=401, echo="description")
        for client in ("echo-post", "echo-basic"):
            r = self.run_cli(f"{client}-desc")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertRegex(r.stderr, r"error (TOK|AUTH)-\d{3}: .*invalid_client")
            texts += [r.stdout, r.stderr]
        for path in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers", "/dicomweb-oauth/metrics"):
            texts.append(self.orthanc.rest("GET", path).text)
        records = self.audit_failures(2 * len(SCENARIOS))
        self.assertTrue(any("invalid_client" in json.dumps(r) for r in records))
        texts.append(self.audit_file.read_text(encoding="utf-8"))
        texts.append(self.orthanc.log_text())
        assert_no_secret(self, sorted(self.forms, key=len, reverse=True), *texts)

    def test_scan_would_see_an_unmasked_echo(self):
        # The scan itself can fail: the echo answer, read directly from the IdP, holds the forms.
        import urllib.request
        self.idp.set_fault(status=401, echo="description")
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "echo-post-desc",
                                       "client_secret": POST_SECRET}).encode()
        basic = base64.b64encode(f"echo-basic-desc:{urllib.parse.quote_plus(BASIC_SECRET)}".encode()).decode()
        request = urllib.request.Request(self.idp.token_url(), data=form,
                                         headers={"Authorization": f"Basic {basic}",
                                                  "Content-Type": "application/x-www-form-urlencoded"})
        try:
            urllib.request.urlopen(request, timeout=10)
            self.fail("the echo fault answered 2xx")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 401)
            body = e.read().decode()
        self.assertIn(urllib.parse.quote_plus(POST_SECRET), body)
        self.assertIn(basic, body)
        with self.assertRaises(AssertionError):
            assert_no_secret(self, sorted(self.forms), body)


if __name__ == "__main__":
    testing.main()
