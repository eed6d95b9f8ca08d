#!/usr/bin/python3
"""The operator page /dicomweb-oauth/ui/ in a real browser (Debian's chromium, headless, driven by
playwright-core) against a real Orthanc with the gateway, under Orthanc authentication: the button in
Orthanc Explorer, the servers with their token state, a server test, a failing server with its code and
advice, a dry run, a reload that shows the new snapshot version, the audit trail's state, and the
cross-site protection of the POST routes (a form of another site is refused, a script of another site
cannot send the header the guard wants). Screenshots stay in the test's workspace
(browser-screenshots/). No secret may appear in the page."""
# gw-test-timeout: 120
import json
import subprocess

from harness import env, testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from gwtest import InProcessServer, QuietHandler, assert_no_secret, copy_scripts, gateway_orthanc, oauth_server

BROWSER_DIR = env.FIXTURES_DIR / "browser"
CHROMIUM = "/usr/bin/chromium"
SECRET = "operator-ui-client-secret-81d3"
ADMIN_PASSWORD = "operator-ui-admin-pw-5e2"
HASH_KEY = "operator-ui-audit-hash-key-0c7a91"
CHAIN_KEY = "operator-ui-audit-chain-key-4f62d0b9a8e1c3575d"
SECRETS = [SECRET, ADMIN_PASSWORD, HASH_KEY, CHAIN_KEY]
UI_HEADER = {"X-Requested-By": "dicomweb-oauth-ui"}

NEW_POLICY = """local M = { name = 'office_hours', version = '2.1', kind = 'policy', schema = { type = 'object' } }
function M.decide(request) return { allow = true } end
function M.self_test() return M.decide({}).allow == true end
return M
"""


class EvilSite(InProcessServer):
    """Another site (served as http://localhost:PORT while Orthanc is http://127.0.0.1:PORT): /form
    posts a form to the gateway's reload route as soon as it loads; /fetch is an empty page for a
    script's attempt."""

    def __init__(self, ws, target):
        super().__init__(ws)
        self.target = target

    class Handler(QuietHandler):
        def do_GET(self):
            target = self.server.owner.target
            if self.path == "/form":
                page = (f'<html><body><form id="f" method="POST" action="{target}" enctype="text/plain">'
                        '<input name="x" value="y"></form>'
                        '<script>document.getElementById("f").submit()</script></body></html>')
            else:
                page = "<html><body>another site</body></html>"
            self.answer(200, page.encode(), "text/html")

    @property
    def url(self):
        return f"http://localhost:{self.port}"


class OperatorUi(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
            raise RuntimeError(f"run `npm ci` in {BROWSER_DIR} (scripts/test.sh does)")
        if not (CHROMIUM and __import__("os").path.exists(CHROMIUM)):
            raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium (scripts/lib/deps.sh)")
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.scripts = copy_scripts(cls.ws)
        audit_dir = cls.ws.dir("audit")
        servers = {
            "cloud": oauth_server(cls.idp, "http://127.0.0.1:9/dicom-web/", SECRET, mode="proxy",
                                  orthanc_user=("admin", ADMIN_PASSWORD), Policies=["read_only"]),
            "broken": oauth_server(cls.idp, "http://127.0.0.1:9/dicom-web/", SECRET, mode="proxy",
                                   orthanc_user=("admin", ADMIN_PASSWORD), TokenEndpoint="http://127.0.0.1:9/token",
                                   ResilienceConfig={"RetryMaxAttempts": 1}),
        }
        # No file watch: the page's buttons, not the watcher, publish the edited scripts.
        section = {"WatchScripts": False, "Audit": {"File": str(audit_dir / "audit.jsonl"), "HashKey": HASH_KEY, "ChainKey": CHAIN_KEY}}
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, servers=servers, scripts=cls.scripts, section=section,
                                                    users={"admin": ADMIN_PASSWORD}))
        cls.evil = cls.use_class(EvilSite(cls.ws, f"{cls.orthanc.url}/dicomweb-oauth/reload"))

    def snapshot_version(self):
        return self.orthanc.get_json("/dicomweb-oauth/status")["lua"]["snapshot"]["version"]

    def run_browser(self, out_dir):
        options = {"orthanc": self.orthanc.url, "user": "admin", "password": ADMIN_PASSWORD,
                   "evilUrl": self.evil.url, "outDir": str(out_dir), "testServer": "cloud",
                   "failingServer": "broken"}
        proc = subprocess.run([env.node_bin(), str(BROWSER_DIR / "operator_ui.js"), json.dumps(options)],
                              capture_output=True, text=True, timeout=90, cwd=str(BROWSER_DIR))
        self.assertEqual(proc.returncode, 0, proc.stderr[-4000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def test_operator_page_in_chromium(self):
        before = self.snapshot_version()
        (self.scripts / "policies" / "routing" / "office_hours.lua").write_text(NEW_POLICY)
        shots = self.ws.dir("browser-screenshots")
        facts = self.run_browser(shots)

        # Reached from Orthanc Explorer's button; shows servers, token state, targets, health, audit.
        self.assertTrue(facts["pageUrl"].endswith("/dicomweb-oauth/ui/"), facts["pageUrl"])
        initial = facts["initial"]
        self.assertIn("client_credentials", initial["rowText"])
        self.assertIn("proxy mode, policies: read_only", initial["rowText"])
        self.assertIn("primary", initial["rowText"])
        self.assertEqual(initial["snapshot"], str(before))
        for probe in ("live", "ready", "startup"):
            self.assertIn(probe, initial["health"])
        self.assertIn("keyed (HMAC)", initial["audit"])
        self.assertIn("audit.jsonl", initial["audit"])

        # Test button: a fresh token, then the row shows it valid with its time to expiry.
        self.assertIn("Test of cloud passed", facts["testResult"])
        self.assertIn("valid", facts["afterTest"]["rowText"])
        self.assertRegex(facts["afterTest"]["rowText"], r"\d+ min \d+ s")
        self.assertGreaterEqual(self.idp.token_requests("orthanc-a"), 1)

        # A failing server: its error code and what to do.
        self.assertIn("Test of broken failed", facts["failedTest"])
        self.assertRegex(facts["failingRow"], r"(TOK|NET|AUTH)-\d{3}")
        self.assertRegex(facts["failedTest"], r"(TOK|NET|AUTH)-\d{3}")

        # Dry run: the added policy is listed, nothing was published.
        self.assertIn("Dry run passed", facts["dryRun"])
        self.assertIn("added: office_hours (policy) 2.1", facts["dryRun"])
        self.assertIn("Nothing was published", facts["dryRun"])
        self.assertEqual(facts["snapshotAfterDryRun"], str(before))

        # Reload: published, and the page shows the new version.
        self.assertIn(f"Reload published snapshot version {before + 1}", facts["reload"])
        self.assertEqual(facts["snapshotAfterReload"], str(before + 1))
        self.assertIn("rest", facts["lastReload"])

        # Cross-site: the script of another site never got its POST out, the form got GW-403, and
        # no reload happened (the version is still the one the page published).
        self.assertTrue(facts["crossSiteFetch"].startswith("blocked"), facts["crossSiteFetch"])
        self.assertIn("GW-403", facts["crossSite"]["body"])
        self.assertIn("another site", facts["crossSite"]["body"])
        self.assertEqual(self.snapshot_version(), before + 1)

        # Offline: every request the page made stayed on this Orthanc.
        for url in facts["requests"]:
            self.assertTrue(url.startswith(self.orthanc.url), url)
        self.assertEqual(facts["consoleErrors"], [])
        print("browser timings (ms):", facts["timings"])
        for name in ("01-explorer-button", "02-page", "03-tested", "04-failing-server", "05-dry-run",
                     "06-reloaded", "07-cross-site-refused"):
            self.assertGreater((shots / f"{name}.png").stat().st_size, 1000, name)
        assert_no_secret(self, SECRETS, facts["dom"], facts["text"], json.dumps(facts), self.orthanc.log_text())
        self.assertNotIn("Bearer ", facts["dom"])

    def test_browser_post_without_the_page_header_is_refused(self):
        before = self.snapshot_version()
        for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                        {"Sec-Fetch-Site": "same-site", **UI_HEADER}, {"Origin": "null", **UI_HEADER},
                        {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}):
            for path in ("/dicomweb-oauth/reload", "/dicomweb-oauth/reload/dry-run",
                         "/dicomweb-oauth/servers/cloud/test"):
                r = self.orthanc.rest("POST", path, body=b"", headers=headers)
                self.assertEqual(r.status, 403, f"{path} {headers}: {r.text}")
                self.assertEqual(r.json()["error"]["code"], "GW-403")
        # Method overrides cannot turn another request into one of these POSTs: Orthanc 1.10.1 fakes
        # only PUT and DELETE, and answers an override to POST with 400 before any plugin (measured).
        for method, path, headers in (("GET", "/dicomweb-oauth/reload?_method=POST", {}),
                                      ("POST", "/dicomweb-oauth/reload", {"X-HTTP-Method-Override": "POST"})):
            r = self.orthanc.rest(method, path, body=b"" if method == "POST" else None, headers=headers)
            self.assertEqual(r.status, 400, f"{method} {path} {headers}: {r.text}")
        self.assertEqual(self.snapshot_version(), before)
        self.orthanc.wait_log("GW-403 cross-site request refused")

    def test_clients_that_are_not_browsers_and_the_page_itself_pass(self):
        # curl, the CLI, automation: no browser marks, as before.
        r = self.orthanc.rest("POST", "/dicomweb-oauth/reload/dry-run", body=b"")
        self.assertEqual(r.status, 200, r.text)
        # The page: same origin, with its header.
        r = self.orthanc.rest("POST", "/dicomweb-oauth/reload/dry-run", body=b"",
                              headers={"Origin": self.orthanc.url, "Sec-Fetch-Site": "same-origin", **UI_HEADER})
        self.assertEqual(r.status, 200, r.text)
        body = r.json()
        self.assertTrue(body["ok"])
        self.assertEqual(body["serving"]["version"], self.snapshot_version())

    def test_dry_run_of_a_broken_script_says_why_and_keeps_serving(self):
        before = self.snapshot_version()
        broken = self.scripts / "policies" / "routing" / "zz_broken.lua"
        broken.write_text("local M = { name = 'zz_broken', version = '1', kind = 'policy' }\n"
                          "function M.decide(r) return { allow = true } end\n"
                          "function M.self_test() error('zz_broken self-test refuses') end\nreturn M\n")
        try:
            r = self.orthanc.rest("POST", "/dicomweb-oauth/reload/dry-run", body=b"")
            self.assertEqual(r.status, 422, r.text)
            body = r.json()
            self.assertFalse(body["ok"])
            self.assertEqual(body["error"]["code"], "LUA-011")
            self.assertIn("zz_broken self-test refuses", body["error"]["message"])
            self.assertEqual(self.snapshot_version(), before)
        finally:
            broken.unlink()

    def test_page_headers_forbid_framing_and_foreign_sources(self):
        for path in ("/dicomweb-oauth/ui", "/dicomweb-oauth/ui/"):
            r = self.orthanc.rest("GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertTrue(r.headers.get("content-type", "").startswith("text/html"))
            csp = r.headers.get("content-security-policy", "")
            self.assertIn("frame-ancestors 'none'", csp)
            self.assertIn("connect-src 'self'", csp)
            # Nothing is loaded from elsewhere: no absolute URL anywhere in the page.
            self.assertNotIn("http://", r.text)
            self.assertNotIn("https://", r.text)
        self.assertEqual(self.orthanc.rest("POST", "/dicomweb-oauth/ui", body=b"").status, 405)


if __name__ == "__main__":
    testing.main()
