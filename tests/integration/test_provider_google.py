#!/usr/bin/python3
"""The google provider through the real plugin in Orthanc, against local servers that follow
Google's documented protocols and check what the gateway sends (harness/google.py): a service
account key file (JWT-bearer grant, RS256), the metadata server (GCE_METADATA_HOST), workload
identity federation (file and URL subject tokens, STS, service account impersonation), the
Application Default Credentials order, a study sent to a protected upstream with a Google token,
and no planted secret (private keys, issued tokens, subject tokens) in anything the gateway shows."""
# gw-test-timeout: 300
import json
import subprocess
import time

from harness import env, jose, testing, wait_until
from harness.dicom import make_study
from harness.google import GoogleIdentity
from harness.http import request
from harness.upstream import ProtectedDicomWeb
from gwtest import assert_no_secret, gateway_orthanc

UPSTREAM = "https://healthcare.googleapis.com/v1/projects/p/locations/l/datasets/d/dicomStores/s/dicomWeb"
HEALTHCARE = "https://www.googleapis.com/auth/cloud-healthcare"


def call_test(test, orthanc, name, expect=200):
    r = orthanc.rest("POST", f"/dicomweb-oauth/servers/{name}/test", json={"Fresh": True})
    test.assertIn(r.status, expect if isinstance(expect, tuple) else (expect,), f"{name}: {r.text}")
    return r.json()


def outputs(orthanc):
    texts = [orthanc.rest("GET", p).text for p in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers",
                                                     "/dicomweb-oauth/metrics")]
    return texts + [orthanc.log_text()]


class GoogleProviders(testing.TestCase):
    """One fake Google, one Orthanc with a server per credential kind."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        g = cls.google = cls.use_class(GoogleIdentity(cls.ws))
        cls.sa_file = g.service_account("orthanc-gw")
        cls.unknown_file = g.service_account("revoked", register=False)
        cls.subject = "eyJhbGciOiJSUzI1NiJ9.gw-test-subject-" + "s" * 24 + ".c2lnbmF0dXJl"
        cls.subject_file = cls.ws.dir("projected") / "token"
        cls.subject_file.write_text(cls.subject + "\n")
        g.trust_subject("pool", cls.subject)
        cls.url_subject = "url-subject-token-" + "u" * 24
        g.subject_token_for_url = cls.url_subject
        g.trust_subject("urlpool", cls.url_subject)
        cls.wif_file = g.external_account("pool", subject_file=cls.subject_file)
        cls.wif_imp_file = g.external_account("pool", subject_file=cls.subject_file, impersonate="dicom-writer",
                                              name="pool-imp")
        cls.wif_url_file = g.external_account("urlpool", subject_url=g.url + "/subject-token")
        google = {"Url": UPSTREAM, "ProviderType": "google", "Mode": "proxy"}
        servers = {
            "sa": {**google, "CredentialsFile": str(cls.sa_file)},
            "sa-platform": {**google, "CredentialsFile": str(cls.sa_file),
                            "Scope": "https://www.googleapis.com/auth/cloud-platform"},
            "sa-unknown": {**google, "CredentialsFile": str(cls.unknown_file),
                           "ResilienceConfig": {"RetryMaxAttempts": 3, "RetryInitialDelay": 0.1}},
            "wif": {**google, "CredentialsFile": str(cls.wif_file)},
            "wif-imp": {**google, "CredentialsFile": str(cls.wif_imp_file)},
            "wif-url": {**google, "CredentialsFile": str(cls.wif_url_file)},
            # No credential file: the metadata server (GOOGLE_APPLICATION_CREDENTIALS is unset).
            "metadata": dict(google),
            # auto detection from the Cloud Healthcare URL
            "auto": {"Url": UPSTREAM, "Mode": "proxy", "CredentialsFile": str(cls.sa_file)},
        }
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, servers=servers,
                                                    env_vars={"GCE_METADATA_HOST": g.metadata_host}))

    @classmethod
    def secrets(cls):
        out = set(cls.google.private_key_lines(cls.sa_file)) | set(cls.google.private_key_lines(cls.unknown_file))
        out |= {cls.subject, cls.url_subject}
        out |= set(cls.google.issued_tokens())
        return sorted(out)

    def acquire(self, name, route, count=1):
        before = len(self.google.events(route))
        body = call_test(self, self.orthanc, name)
        self.assertTrue(body["ok"])
        self.assertEqual(body["provider"], "google")
        self.assertEqual(body["tokenType"], "Bearer")
        self.assertGreater(body["expiresInSeconds"], 3000)
        events = self.google.events(route)[before:]
        self.assertEqual(len(events), count, events)
        self.assertTrue(all(e["status"] == 200 for e in events), events)
        return events[-1]

    def test_service_account_jwt_bearer(self):
        event = self.acquire("sa", "/token")
        self.assertEqual(event["email"], self.google.email("orthanc-gw"))
        self.assertEqual(event["scope"], HEALTHCARE)  # the default
        self.assertEqual(self.acquire("sa-platform", "/token")["scope"],
                         "https://www.googleapis.com/auth/cloud-platform")
        self.assertEqual(self.acquire("auto", "/token")["email"], self.google.email("orthanc-gw"))

    def test_unknown_key_is_refused_and_not_retried(self):
        before = len(self.google.events("/token"))
        body = call_test(self, self.orthanc, "sa-unknown", expect=503)
        self.assertFalse(body.get("ok", False))
        text = json.dumps(body)
        self.assertIn("AUTH-001", text)
        self.assertIn("account not found", text)
        events = self.google.events("/token")[before:]
        self.assertEqual([e["status"] for e in events], [400], "a refused credential is not retried")

    def test_metadata_server(self):
        event = self.acquire("metadata", "metadata")
        self.assertIsNone(event["scopes"])  # no Scope configured: the VM's own scopes

    def test_metadata_server_rules_are_enforced(self):
        # The fake refuses what Google's metadata server refuses, so the acquisitions above prove
        # the gateway sent Metadata-Flavor: Google and no X-Forwarded-For.
        url = f"http://{self.google.metadata_host}/computeMetadata/v1/instance/service-accounts/default/token"
        self.assertEqual(request("GET", url).status, 403)
        self.assertEqual(request("GET", url, headers={"Metadata-Flavor": "Google",
                                                      "X-Forwarded-For": "10.0.0.1"}).status, 403)
        ok = request("GET", url, headers={"Metadata-Flavor": "Google"})
        self.assertEqual(ok.status, 200)
        self.assertEqual(ok.headers.get("Metadata-Flavor"), "Google")

    def test_fake_token_endpoint_is_strict(self):
        # The fake refuses what Google refuses, so the gateway's accepted assertions prove their
        # signature, kid, iss, aud, scope and times.
        creds = json.loads(self.sa_file.read_text())
        key = self.ws.dir("strict") / "key.pem"
        key.write_text(creds["private_key"])
        now = int(time.time())
        good = {"iss": creds["client_email"], "scope": HEALTHCARE, "aud": self.google.token_uri,
                "iat": now, "exp": now + 3600}

        def post(claims, tamper=False, kid=creds["private_key_id"]):
            assertion = jose.sign(claims, "RS256", key=str(key), kid=kid)
            if tamper:
                head, payload, sig = assertion.split(".")
                payload = jose.b64url(json.dumps({**claims, "scope": "x"}).encode())
                assertion = ".".join((head, payload, sig))
            return request("POST", self.google.token_uri,
                           form={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
        self.assertEqual(post(good).status, 200)
        for name, response in (("tampered", post(good, tamper=True)),
                               ("other kid", post(good, kid="0" * 40)),
                               ("wrong aud", post({**good, "aud": "https://oauth2.googleapis.com/token"})),
                               ("no scope", post({k: v for k, v in good.items() if k != "scope"})),
                               ("too long", post({**good, "exp": now + 3700})),
                               ("expired", post({**good, "iat": now - 4000, "exp": now - 400}))):
            with self.subTest(case=name):
                self.assertEqual(response.status, 400, response.text)
                self.assertIn(response.json()["error"], ("invalid_grant", "invalid_scope"))

    def test_workload_identity_federation_file_source(self):
        event = self.acquire("wif", "/v1/token")
        self.assertEqual(event["audience"], self.google.pool_audience("pool"))
        self.assertEqual(event["scope"], HEALTHCARE)

    def test_workload_identity_federation_with_impersonation(self):
        sts_before = len(self.google.events("/v1/token"))
        event = self.acquire("wif-imp", "generateAccessToken")
        self.assertEqual(event["email"], self.google.email("dicom-writer"))
        self.assertEqual(event["scope"], HEALTHCARE)
        sts = self.google.events("/v1/token")[sts_before:]
        self.assertEqual([e["scope"] for e in sts], ["https://www.googleapis.com/auth/cloud-platform"])

    def test_workload_identity_federation_url_source(self):
        before = len(self.google.events("/subject-token"))
        event = self.acquire("wif-url", "/v1/token")
        self.assertEqual(event["audience"], self.google.pool_audience("urlpool"))
        self.assertEqual(len(self.google.events("/subject-token")) - before, 1)

    def test_subject_token_rotation_is_picked_up(self):
        rotated = "eyJhbGciOiJSUzI1NiJ9.gw-test-rotated-" + "r" * 24 + ".c2lnbmF0dXJl"
        type(self).rotated = rotated
        self.google.trust_subject("pool", rotated)
        original = self.subject_file.read_text()
        try:
            self.subject_file.write_text(rotated)
            self.acquire("wif", "/v1/token")
        finally:
            self.subject_file.write_text(original)

    def test_zz_no_secret_in_outputs(self):
        secrets = self.secrets() + ([self.rotated] if hasattr(self, "rotated") else [])
        self.assertGreater(len(secrets), 5)
        assert_no_secret(self, secrets, *outputs(self.orthanc))


class ApplicationDefaultCredentials(testing.TestCase):
    """GOOGLE_APPLICATION_CREDENTIALS in Orthanc's environment: used before the metadata server,
    after a server's own CredentialsFile; a broken one fails instead of falling through."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        g = cls.google = cls.use_class(GoogleIdentity(cls.ws, name="google-adc"))
        cls.adc_file = g.service_account("adc-account")
        cls.own_file = g.service_account("own-account")
        servers = {
            "adc": {"Url": UPSTREAM, "ProviderType": "google", "Mode": "proxy"},
            "own": {"Url": UPSTREAM, "ProviderType": "google", "Mode": "proxy", "CredentialsFile": str(cls.own_file)},
        }
        cls.orthanc = cls.use_class(gateway_orthanc(
            cls.ws, servers=servers, name="orthanc-adc",
            env_vars={"GOOGLE_APPLICATION_CREDENTIALS": str(cls.adc_file), "GCE_METADATA_HOST": g.metadata_host}))

    def test_order(self):
        metadata_before = len(self.google.events("metadata"))
        before = len(self.google.events("/token"))
        self.assertTrue(call_test(self, self.orthanc, "adc")["ok"])
        self.assertTrue(call_test(self, self.orthanc, "own")["ok"])
        emails = [e["email"] for e in self.google.events("/token")[before:]]
        self.assertEqual(emails, [self.google.email("adc-account"), self.google.email("own-account")])
        self.assertEqual(len(self.google.events("metadata")), metadata_before, "the metadata server was not asked")

    def test_broken_adc_file_fails_without_metadata_fallback(self):
        broken = self.ws.dir("adc-broken") / "creds.json"
        broken.write_text("{ not json")
        orthanc = self.use(gateway_orthanc(
            self.ws, servers={"adc": {"Url": UPSTREAM, "ProviderType": "google", "Mode": "proxy"}},
            name="orthanc-adc-broken",
            env_vars={"GOOGLE_APPLICATION_CREDENTIALS": str(broken), "GCE_METADATA_HOST": self.google.metadata_host}))
        metadata_before = len(self.google.events("metadata"))
        body = call_test(self, orthanc, "adc", expect=(500, 502, 503))
        self.assertIn("CFG-002", json.dumps(body))
        self.assertEqual(len(self.google.events("metadata")), metadata_before)


class GoogleTokenSendsAStudy(testing.TestCase):
    """Inject mode: the DICOMweb plugin STOWs a study to a protected upstream that accepts only the
    token the fake Google issued for the service account."""

    TOKEN = "ya29.gw-test-google-upstream-token-" + "t" * 32

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.google = cls.use_class(GoogleIdentity(cls.ws, fixed_token=cls.TOKEN, name="google-stow"))
        cls.sa_file = cls.google.service_account("stow-account")
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, auth="static", static_token=cls.TOKEN))
        cls.a = cls.use_class(gateway_orthanc(cls.ws, name="orthanc-stow", servers={"gcp": {
            "Url": cls.upstream.dicomweb_url, "ProviderType": "google", "CredentialsFile": str(cls.sa_file),
            "Mode": "inject"}}))

    def test_stow_through_inject_mode(self):
        study = make_study(4, seed=31)
        ids = [self.a.upload(d)["ID"] for d in study.instances]
        series = self.a.get_json(f"/instances/{ids[0]}")["ParentSeries"]
        study_id = self.a.get_json(f"/series/{series}")["ParentStudy"]

        def written():
            headers = self.a.get_json("/dicom-web/servers?expand").get("gcp", {}).get("HttpHeaders", [])
            return "Authorization" in headers
        wait_until(written, 15, "the gateway to write the server definition")
        r = self.a.rest("POST", "/dicom-web/servers/gcp/stow", json={"Resources": [study_id], "Synchronous": False})
        self.assertEqual(r.status, 200, r.text)
        job = self.a.wait_job(r.json()["ID"], timeout=120)
        self.assertEqual(job["State"], "Success", job)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)
        self.assertGreaterEqual(len(self.google.events("/token")), 1)
        assert_no_secret(self, [self.TOKEN] + self.google.private_key_lines(self.sa_file), *outputs(self.a))


class Examples(testing.TestCase):
    """examples/google/*.json pass `dicomweb-oauth check-config` (with the files they name present)."""

    def test_check_config(self):
        folder = env.SOURCE_DIR / "examples" / "google"
        configs = sorted(folder.glob("*.json"))
        self.assertGreaterEqual(len(configs), 3)
        google = GoogleIdentity(self.ws, name="google-examples")
        work = self.ws.dir("examples-google")
        sa = google.service_account("example")
        subject = work / "token"
        subject.write_text("subject")
        wif = google.external_account("pool", subject_file=subject)
        for config in configs:
            with self.subTest(config=config.name):
                proc = subprocess.run(
                    [env.cli_path(), "check-config", str(config), "--scripts-dir", str(env.SOURCE_DIR / "lua")],
                    capture_output=True, text=True, timeout=60,
                    env={"PATH": "/usr/bin:/bin", "GOOGLE_SA_KEY_FILE": str(sa), "GOOGLE_WIF_FILE": str(wif),
                         "ORTHANC_DICOMWEB_URL": UPSTREAM})
                self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
                self.assertIn("provider google", proc.stdout + proc.stderr)


if __name__ == "__main__":
    testing.main()
