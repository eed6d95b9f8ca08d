#!/usr/bin/python3
"""AWS HealthImaging through proxy mode: Orthanc A (DICOMweb + gateway, ProviderType aws) talks to a
local HealthImaging-style endpoint that recomputes every SigV4 signature with botocore over the
request exactly as received and forwards accepted requests to a real Orthanc B. Credentials come
from each source the AWS SDKs use, served by local fakes of the documented protocols: the container
endpoint (EKS Pod Identity style full URI + authorization token file), IMDSv2, STS
AssumeRoleWithWebIdentity, and configured keys. A whole study goes STOW -> QIDO -> WADO-RS
retrieve, byte-identical; expiring credentials are refreshed before they expire; a wrong
signature is refused; no secret reaches a log, a status page or an answer."""
# gw-test-timeout: 600

import subprocess
import time

from harness import env, testing, wait_until
from harness.aws import ROLE_ARN, FakeAws, botocore_authorization
from harness.dicom import make_study
from harness.http import request
from harness.orthanc import DICOMWEB_PLUGIN, Orthanc
from gwtest import assert_no_secret, gateway_orthanc, wait_proxy_definition

STATIC_KEY = "AKIAGWTESTSTATIC0001"
STATIC_SECRET = "static-secret-aws-test-5f3a9c0e77"
IMDS_LIFETIME = 90  # seconds: the token engine must fetch new keys before these expire


def first_value(element):
    value = element["Value"]
    return value[0] if isinstance(value, list) else value


def aws_server(cloud, datastore, **over):
    s = {"Url": cloud.dicomweb_url(datastore), "ProviderType": "aws", "Region": "us-east-1", "HasDelete": True}
    s.update(over)
    return s


class ProviderAws(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend = cls.use_class(Orthanc(cls.ws, plugins=[DICOMWEB_PLUGIN], name="healthimaging-backend",
                                            dicom_server=False))
        cls.cloud = cls.use_class(FakeAws(cls.ws, cls.backend))
        cls.cloud.lifetime["imds"] = IMDS_LIFETIME
        cls.cloud.static_key(STATIC_KEY, STATIC_SECRET)
        tokens = cls.ws.dir("aws-tokens")
        container_token_file = tokens / "eks-pod-identity-token"
        container_token_file.write_text(cls.cloud.container_token + "\n")
        web_identity_file = tokens / "web-identity-token"
        web_identity_file.write_text(cls.cloud.web_identity_token)

        # A: container credentials (EKS Pod Identity style), plus configured keys (right and wrong).
        cls.a = cls.use_class(gateway_orthanc(
            cls.ws, name="orthanc-container", section={"LogLevel": "debug"},
            servers={"aws": aws_server(cls.cloud, "ds-container"),
                     "static": aws_server(cls.cloud, "ds-static", AccessKeyId=STATIC_KEY,
                                          SecretAccessKey=STATIC_SECRET),
                     "wrong": aws_server(cls.cloud, "ds-static", AccessKeyId=STATIC_KEY,
                                         SecretAccessKey="not-the-secret-of-this-key-0000")},
            env_vars={"AWS_CONTAINER_CREDENTIALS_FULL_URI": cls.cloud.container_url,
                      "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(container_token_file)}))
        # B: EC2 instance metadata (IMDSv2), keys that expire after IMDS_LIFETIME seconds.
        cls.imds = cls.use_class(gateway_orthanc(
            cls.ws, name="orthanc-imds", section={"LogLevel": "debug"},
            servers={"aws": aws_server(cls.cloud, "ds-imds")},
            env_vars={"AWS_EC2_METADATA_SERVICE_ENDPOINT": cls.cloud.imds_url}))
        # C: web identity (EKS IRSA): projected token file + role, STS at a local endpoint.
        cls.wi = cls.use_class(gateway_orthanc(
            cls.ws, name="orthanc-web-identity", section={"LogLevel": "debug"},
            servers={"aws": aws_server(cls.cloud, "ds-web-identity")},
            env_vars={"AWS_WEB_IDENTITY_TOKEN_FILE": str(web_identity_file), "AWS_ROLE_ARN": ROLE_ARN,
                      "AWS_ROLE_SESSION_NAME": "orthanc-wi", "AWS_ENDPOINT_URL_STS": cls.cloud.sts_url,
                      "AWS_REGION": "us-east-1"}))
        for orthanc in (cls.a, cls.imds, cls.wi):
            wait_proxy_definition(orthanc, "aws")

    # -- helpers -------------------------------------------------------------------------------

    def load(self, orthanc, study):
        ids = [orthanc.upload(d)["ID"] for d in study.instances]
        return orthanc.get_json(f"/instances/{ids[0]}/study")["ID"]

    def qido_studies(self, orthanc, server="aws", **arguments):
        return orthanc.rest("POST", f"/dicom-web/servers/{server}/qido", json={"Uri": "/studies", "Arguments": arguments})

    def requests_since(self, mark):
        return self.cloud.signed_requests[mark:]

    # -- tests ---------------------------------------------------------------------------------

    def test_stow_qido_retrieve_byte_identical_with_container_credentials(self):
        study = make_study(8, series_count=2, seed=51, rows=256, columns=256)
        study_id = self.load(self.a, study)
        mark = len(self.cloud.signed_requests)

        r = self.a.rest("POST", "/dicom-web/servers/aws/stow", json={"Resources": [study_id], "Synchronous": False})
        self.assertEqual(r.status, 200, r.text)
        job = self.a.wait_job(r.json()["ID"], timeout=300)
        self.assertEqual(job["State"], "Success", job)
        self.assertEqual(self.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)

        posts = [e for e in self.requests_since(mark) if e[0] == "POST"]
        self.assertTrue(posts, "the STOW never reached the HealthImaging endpoint")
        # Spooled and hashed before sending: the body goes with its length, never chunked.
        for method, path, framing in self.cloud.framing[mark:]:
            if method == "POST":
                self.assertTrue(framing.startswith("length:") and int(framing[7:]) > 100000, framing)
        issued = {i[1] for i in self.cloud.issued_by("container")}
        for method, path, key, signed in posts:
            self.assertEqual(path, "/datastore/ds-container/studies")
            self.assertIn(key, issued)                       # keys from the container endpoint
            self.assertIn("content-type", signed.split(";"))  # the multipart boundary is signed
            self.assertIn("x-amz-security-token", signed.split(";"))
        # The container endpoint saw the token from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
        container_calls = [s for s in self.cloud.source_requests if s[1].startswith("/v2/credentials/")]
        self.assertTrue(container_calls)
        self.assertEqual(container_calls[0][2].get("Authorization"), self.cloud.container_token)

        # QIDO, with a query the proxy decodes and encodes again (',' in includefield, '*').
        r = self.qido_studies(self.a, StudyInstanceUID=study.study_instance_uid)
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual([first_value(s["0020000D"]) for s in r.json()], [study.study_instance_uid])
        r = self.a.rest("POST", "/dicom-web/servers/aws/qido",
                        json={"Uri": f"/studies/{study.study_instance_uid}/series",
                              "Arguments": {"includefield": "0008103E,00200011", "limit": "10",
                                            "Modality": "*"}})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(sorted(first_value(s["0020000E"]) for s in r.json()), sorted(study.series_instance_uids))

        # WADO-RS retrieve back into A after deleting the study there.
        self.assertEqual(self.a.rest("DELETE", f"/studies/{study_id}").status, 200)
        self.assertEqual(self.a.instance_hashes(study.sha256_by_sop), {})
        r = self.a.rest("POST", "/dicom-web/servers/aws/retrieve",
                        json={"Resources": [{"Study": study.study_instance_uid}], "Asynchronous": True})
        self.assertEqual(r.status, 200, r.text)
        job = self.a.wait_job(r.json()["ID"], timeout=300)
        self.assertEqual(job["State"], "Success", job)
        self.assertEqual(self.a.instance_hashes(study.sha256_by_sop), study.sha256_by_sop)
        gets = [e for e in self.requests_since(mark) if e[0] == "GET"]
        self.assertTrue(any(p.startswith("/datastore/ds-container/studies/") for _, p, _, _ in gets))

    def test_configured_keys_sign_and_a_wrong_secret_is_refused(self):
        r = self.qido_studies(self.a, server="static", PatientID="nobody-0")
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(self.cloud.signed_requests[-1][2], STATIC_KEY)

        refusals = len(self.cloud.refusals)
        r = self.qido_studies(self.a, server="wrong", PatientID="nobody-0")
        self.assertNotEqual(r.status, 200, r.text)
        self.assertIn(("InvalidSignatureException",
                       "The request signature we calculated does not match the signature you provided"),
                      self.cloud.refusals[refusals:])

    def test_the_fake_refuses_a_tampered_signature(self):
        """The verifier itself can fail: a correct botocore signature passes, the same with one
        character changed (or another body) is refused."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        host = f"127.0.0.1:{self.cloud.port}"
        path = "/datastore/ds-static/studies"
        headers = [("Accept", "application/dicom+json"), ("X-Amz-Date", stamp)]
        good = botocore_authorization("GET", f"http://{host}{path}", headers + [("Host", host)], b"", STATIC_KEY,
                                      STATIC_SECRET, None, "us-east-1", stamp, params=[("limit", "1")])
        ok = request("GET", self.cloud.base + path + "?limit=1",
                     headers=dict(headers + [("Authorization", good)]))
        self.assertEqual(ok.status, 200, ok.text)
        bad = good[:-1] + ("0" if good[-1] != "0" else "1")
        refused = request("GET", self.cloud.base + path + "?limit=1",
                          headers=dict(headers + [("Authorization", bad)]))
        self.assertEqual(refused.status, 403)
        self.assertEqual(refused.json()["__type"], "InvalidSignatureException")
        # Same signature, other query: refused too.
        refused = request("GET", self.cloud.base + path + "?limit=2",
                          headers=dict(headers + [("Authorization", good)]))
        self.assertEqual(refused.status, 403)

    def test_imds_v2_credentials_are_refreshed_before_they_expire(self):
        r = self.qido_studies(self.imds, PatientID="nobody-1")
        self.assertEqual(r.status, 200, r.text)
        expiry = self.imds.get_json("/dicomweb-oauth/status")["servers"]["states"]["aws"]["token"]["expiresAt"]
        first = self.cloud.issued_by("imds")[0]
        self.assertEqual(self.cloud.signed_requests[-1][2], first[1])
        # IMDSv2: a session token was asked for first, with its TTL header.
        puts = [s for s in self.cloud.source_requests if s[0] == "PUT" and s[1] == "/latest/api/token"]
        self.assertTrue(puts)
        self.assertIn("X-aws-ec2-metadata-token-ttl-seconds", puts[0][2])

        # The engine refreshes in the background, ahead of expiry (half the lifetime here).
        wait_until(lambda: len(self.cloud.issued_by("imds")) >= 2, IMDS_LIFETIME, "a second IMDS issuance",
                   interval=0.5)
        second = self.cloud.issued_by("imds")[1]
        self.assertLess(second[2], first[3], "new keys were fetched only after the old ones expired")
        # ... and published (a request does not wait for a refresh while its keys are still valid).
        wait_until(lambda: self.imds.get_json("/dicomweb-oauth/status")["servers"]["states"]["aws"]["token"]
                   ["expiresAt"] != expiry, 15, "the new keys in the cache", interval=0.2)
        r = self.qido_studies(self.imds, PatientID="nobody-2")
        self.assertEqual(r.status, 200, r.text)
        self.assertNotEqual(self.cloud.signed_requests[-1][2], first[1])
        refused = [x for x in self.cloud.refusals if x[0] == "ExpiredTokenException"]
        self.assertEqual(refused, [])

    def test_web_identity_through_sts(self):
        r = self.qido_studies(self.wi, PatientID="nobody-3")
        self.assertEqual(r.status, 200, r.text)
        forms = [f for f in self.cloud.sts_forms if f.get("RoleSessionName") == "orthanc-wi"]
        self.assertTrue(forms)
        self.assertEqual(forms[0]["RoleArn"], ROLE_ARN)
        self.assertEqual(forms[0]["WebIdentityToken"], self.cloud.web_identity_token)
        keys = {i[1] for i in self.cloud.issued_by("web-identity")}
        self.assertIn(self.cloud.signed_requests[-1][2], keys)

    def test_test_route_and_status_show_metadata_never_keys(self):
        r = self.a.rest("POST", "/dicomweb-oauth/servers/aws/test?fresh=true")
        self.assertEqual(r.status, 200, r.text)
        body = r.json()
        self.assertTrue(body["ok"])
        self.assertEqual(body["provider"], "aws_sigv4")
        self.assertIn("source:container", body["scopes"])
        status = self.a.rest("GET", "/dicomweb-oauth/status").text
        servers = self.a.rest("GET", "/dicomweb-oauth/servers").text
        metrics = self.a.rest("GET", "/dicomweb-oauth/metrics").text
        assert_no_secret(self, self.cloud.secrets() + [STATIC_SECRET], r.text, status, servers, metrics)

    def test_zz_no_secret_in_any_log(self):
        # Runs last (name order): every log of the class by then.
        self.qido_studies(self.a, PatientID="nobody-4")
        for orthanc in (self.a, self.imds, self.wi):
            assert_no_secret(self, self.cloud.secrets() + [STATIC_SECRET], orthanc.log_text())


class Examples(testing.TestCase):
    """examples/aws/*.json pass `dicomweb-oauth check-config`, and the access-keys example signs
    exactly like botocore (`dicomweb-oauth sign --time`)."""

    ENV = {"PATH": "/usr/bin:/bin", "HEALTHIMAGING_DATASTORE_ID": "0123456789abcdef0123456789abcdef",
           "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": STATIC_KEY, "AWS_SECRET_ACCESS_KEY": STATIC_SECRET}

    def cli(self, *args):
        return subprocess.run([env.cli_path(), *args], capture_output=True, text=True, timeout=60, env=self.ENV)

    def test_check_config(self):
        configs = sorted((env.SOURCE_DIR / "examples" / "aws").glob("*.json"))
        self.assertGreaterEqual(len(configs), 2)
        for config in configs:
            with self.subTest(config=config.name):
                proc = self.cli("check-config", str(config), "--scripts-dir", str(env.SOURCE_DIR / "lua"))
                self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
                self.assertIn("provider aws_sigv4", proc.stdout + proc.stderr)
                assert_no_secret(self, [STATIC_SECRET], proc.stdout, proc.stderr)

    def test_access_keys_example_signs_like_botocore(self):
        config = env.SOURCE_DIR / "examples" / "aws" / "access-keys.json"
        host = "dicom-medical-imaging.eu-west-1.amazonaws.com"
        path = "/datastore/0123456789abcdef0123456789abcdef/studies"
        stamp = "20261122T101500Z"
        proc = self.cli("sign", "--config", str(config), "--server", "healthimaging", "--method", "GET",
                        "--url", f"https://{host}{path}?PatientID=P%201&limit=5", "--header",
                        "Accept: application/dicom+json", "--time", stamp, "--show-credentials", "--scripts-dir",
                        str(env.SOURCE_DIR / "lua"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        expected = botocore_authorization("GET", f"https://{host}{path}",
                                          [("Accept", "application/dicom+json"), ("X-Amz-Date", stamp)], b"",
                                          STATIC_KEY, STATIC_SECRET, None, "eu-west-1", stamp,
                                          params=[("PatientID", "P 1"), ("limit", "5")])
        self.assertEqual(sorted(proc.stdout.splitlines()), sorted([f"Authorization: {expected}",
                                                                   f"X-Amz-Date: {stamp}"]))


if __name__ == "__main__":
    testing.main()
