#!/usr/bin/python3
"""Static and file tokens, and env:/file: secret references, through the real plugin in Orthanc:
a static Token (given as env:NAME) reaches a protected upstream; a token file rotated while Orthanc
runs is picked up and the new token is what the upstream sees; a ClientSecret written env:NAME or
file:/path authenticates against the harness IdP; an unset reference stops start-up with CFG-007
naming the path and the variable, and no secret value appears in any log."""
# gw-test-timeout: 300
import subprocess

from harness import env, testing, wait_until
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import assert_no_secret, gateway_orthanc

UNUSED_UPSTREAM = "http://127.0.0.1:9/dicom-web/"  # never contacted by token-only tests


def qido_status(orthanc, server):
    r = orthanc.rest("POST", f"/dicom-web/servers/{server}/qido", json={"Uri": "/studies"})
    return r.status


def outputs(orthanc):
    return [orthanc.rest("GET", p).text for p in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers",
                                                  "/dicomweb-oauth/metrics")] + [orthanc.log_text()]


class StaticAndFileTokens(testing.TestCase):
    """One upstream that accepts only NEW_TOKEN; a static server and a file server in inject mode."""

    OLD_TOKEN = "gw-test-old-file-token-" + "o" * 24
    NEW_TOKEN = "gw-test-new-file-token-" + "n" * 24

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, auth="static", static_token=cls.NEW_TOKEN))
        cls.token_file = cls.ws.dir("tokens") / "access-token"
        cls.token_file.write_text(cls.OLD_TOKEN + "\n")
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, servers={
            "static": {"Url": cls.upstream.dicomweb_url, "ProviderType": "static", "Token": "env:GW_TEST_STATIC_TOKEN"},
            "file": {"Url": cls.upstream.dicomweb_url, "ProviderType": "file", "TokenFile": str(cls.token_file),
                     "TokenFileRefreshSeconds": 1},
        }, env_vars={"GW_TEST_STATIC_TOKEN": cls.NEW_TOKEN}))

    def test_static_token_from_env_reference_reaches_upstream(self):
        body = self.orthanc.rest("POST", "/dicomweb-oauth/servers/static/test", json={}).json()
        self.assertTrue(body["ok"], body)
        self.assertEqual(body["provider"], "static_token")
        wait_until(lambda: qido_status(self.orthanc, "static") == 200, 15, "QIDO with the static token")

    def test_rotated_token_file_is_used(self):
        # The upstream refuses the old token; after the rotation the new one gets through.
        wait_until(lambda: "Authorization" in self.orthanc.get_json("/dicom-web/servers?expand")
                   .get("file", {}).get("HttpHeaders", []), 15, "the file server's definition")
        self.assertNotEqual(qido_status(self.orthanc, "file"), 200)
        mark = self.upstream.log_mark()
        # Rotation by rename, as Kubernetes and most secret agents do.
        fresh = self.token_file.with_name("access-token.new")
        fresh.write_text(self.NEW_TOKEN + "\n")
        fresh.rename(self.token_file)
        wait_until(lambda: qido_status(self.orthanc, "file") == 200, 20, "QIDO with the rotated token", interval=0.5)
        # nginx writes a line after its answer left: wait for the 200's line, not just any line.
        wait_until(lambda: "200" in [str(e["status"]) for e in self.upstream.access_entries()[mark:]], 5,
                   "the upstream's log line of the accepted QIDO")

    def test_zz_no_token_in_outputs(self):
        assert_no_secret(self, [self.OLD_TOKEN, self.NEW_TOKEN], *outputs(self.orthanc))


class SecretReferencesWithTheIdp(testing.TestCase):
    """ClientSecret as env:NAME and file:/path against the real IdP (oidc-provider)."""

    SECRET = "gw-test-referenced-secret-" + "x" * 20

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("ref-client", secret=cls.SECRET)]))
        secret_file = cls.ws.dir("secrets") / "client-secret"
        secret_file.write_text(cls.SECRET + "\n")
        base = {"Url": UNUSED_UPSTREAM, "Mode": "proxy", "TokenEndpoint": cls.idp.token_url(),
                "ClientId": "ref-client"}
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, name="orthanc-refs", servers={
            "from-env": {**base, "ClientSecret": "env:GW_TEST_CLIENT_SECRET"},
            "from-file": {**base, "ClientSecret": f"file:{secret_file}"},
        }, env_vars={"GW_TEST_CLIENT_SECRET": cls.SECRET}))

    def test_env_and_file_references_authenticate(self):
        for name in ("from-env", "from-file"):
            with self.subTest(server=name):
                before = self.idp.token_requests("ref-client")
                r = self.orthanc.rest("POST", f"/dicomweb-oauth/servers/{name}/test", json={"Fresh": True})
                self.assertEqual(r.status, 200, r.text)
                self.assertEqual(self.idp.token_requests("ref-client"), before + 1)
        assert_no_secret(self, [self.SECRET], *outputs(self.orthanc))

    def test_unset_reference_stops_start_up(self):
        # "good" resolves its reference: its value must not show up in the refusal either.
        orthanc = gateway_orthanc(self.ws, name="orthanc-unset-ref", servers={
            "bad": {"Url": UNUSED_UPSTREAM, "TokenEndpoint": self.idp.token_url(), "ClientId": "ref-client",
                    "ClientSecret": "env:GW_TEST_UNSET_REFERENCE",
                    "HttpHeaders": {"X-Api-Key": f"file:{self.ws.dir('secrets')}/absent"}},
            "good": {"Url": UNUSED_UPSTREAM, "TokenEndpoint": self.idp.token_url(), "ClientId": "ref-client",
                     "ClientSecret": "env:GW_TEST_DECOY", "TokenRefreshBufferSeconds": -1}},
            env_vars={"GW_TEST_DECOY": self.SECRET})
        code, log = orthanc.start_expecting_failure()
        self.assertNotEqual(code, 0)
        self.assertRegex(log, r"CFG-007 DicomWebOAuth\.Servers\.bad\.ClientSecret: env reference: the "
                              r"environment variable GW_TEST_UNSET_REFERENCE is not set")
        self.assertRegex(log, r"CFG-007 DicomWebOAuth\.Servers\.bad\.HttpHeaders\.X-Api-Key: file reference "
                              r"\S+/absent cannot be resolved: file not found")
        self.assertRegex(log, r"CFG-002 DicomWebOAuth\.Servers\.good\.TokenRefreshBufferSeconds")
        self.assertNotRegex(log, r"DicomWebOAuth\.Servers\.good\.ClientSecret")
        self.assertIn("the plugin refuses to start", log)
        assert_no_secret(self, [self.SECRET], log)


class Examples(testing.TestCase):
    """examples/static/*.json pass `dicomweb-oauth check-config`."""

    def test_check_config(self):
        configs = sorted((env.SOURCE_DIR / "examples" / "static").glob("*.json"))
        self.assertGreaterEqual(len(configs), 2)
        work = self.ws.dir("examples-static")
        (work / "token").write_text("example-token\n")
        for config in configs:
            with self.subTest(config=config.name):
                proc = subprocess.run(
                    [env.cli_path(), "check-config", str(config), "--scripts-dir", str(env.SOURCE_DIR / "lua")],
                    capture_output=True, text=True, timeout=60,
                    env={"PATH": "/usr/bin:/bin", "DICOMWEB_TOKEN": "example-static-token",
                         "DICOMWEB_TOKEN_FILE": str(work / "token"), "ORTHANC_DICOMWEB_URL": "https://pacs.example.com/dicom-web/"})
                self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
                self.assertNotIn("example-static-token", proc.stdout + proc.stderr)


if __name__ == "__main__":
    testing.main()
