#!/usr/bin/python3
"""Inject mode end to end: Orthanc A (DICOMweb + gateway) sends through its own DICOMweb client to a
protected upstream (Orthanc B behind nginx that admits only tokens the IdP vouches for). The gateway
keeps A's server definition fresh with a bearer token; nothing of ours is in the data path."""
# gw-test-timeout: 400
import time

from harness import testing, wait_until
from harness.dicom import make_study, sha256
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import assert_no_secret, gateway_orthanc

SECRET = "inject-client-secret-5d1e9a"
TTL = 30  # seconds: short, so refreshes happen during the test


class InjectMode(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)],
                                                 access_token_ttl=TTL))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers={"cloud": {
            "Url": cls.upstream.dicomweb_url, "TokenEndpoint": cls.idp.token_url(), "ClientId": "orthanc-a",
            "ClientSecret": SECRET, "Scope": "dicomweb", "Resource": "urn:gw-test:dicomweb",
            "TokenRefreshBufferSeconds": 10, "Mode": "inject", "HasDelete": True}}))

    def stow(self, study):
        ids = [self.a.upload(d)["ID"] for d in study.instances]
        parent = self.a.get_json(f"/instances/{ids[0]}")["ParentSeries"]
        study_id = self.a.get_json(f"/series/{parent}")["ParentStudy"]
        r = self.a.rest("POST", "/dicom-web/servers/cloud/stow", json={"Resources": [study_id], "Synchronous": False})
        self.assertEqual(r.status, 200, r.text)
        return study_id, self.a.wait_job(r.json()["ID"], timeout=120)

    def test_definition_carries_a_token_and_keeps_configured_fields(self):
        def written():
            servers = self.a.get_json("/dicom-web/servers?expand")
            headers = servers.get("cloud", {}).get("HttpHeaders", [])
            return servers["cloud"] if "Authorization" in headers else None
        cloud = wait_until(written, 15, "the gateway to write the server definition")
        self.assertEqual(cloud["Url"].rstrip("/"), self.upstream.dicomweb_url.rstrip("/"))
        self.assertIn(cloud.get("HasDelete"), (True, "1", "true"))

    def test_stow_qido_retrieve_round_trip_byte_identical(self):
        study = make_study(12, series_count=2, seed=11)
        study_id, job = self.stow(study)
        self.assertEqual(job["State"], "Success", job)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)

        r = self.a.rest("POST", "/dicom-web/servers/cloud/qido",
                        json={"Uri": "/studies", "Arguments": {"StudyInstanceUID": study.study_instance_uid}})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(len(r.json()), 1)

        # Retrieve back into A after deleting the local copy.
        self.assertEqual(self.a.rest("DELETE", f"/studies/{study_id}").status, 200)
        r = self.a.rest("POST", "/dicom-web/servers/cloud/retrieve",
                        json={"Resources": [{"Study": study.study_instance_uid}], "Asynchronous": True})
        self.assertEqual(r.status, 200, r.text)
        job = self.a.wait_job(r.json()["ID"], timeout=120)
        self.assertEqual(job["State"], "Success", job)
        self.assertEqual(self.a.instance_hashes(study.sha256_by_sop), study.sha256_by_sop)

    def test_expired_and_revoked_tokens_do_not_fail_jobs(self):
        # Past the first token's lifetime: the background refresh has written new ones.
        first = self.idp.stats()["token"]["orthanc-a"]["issued"]
        time.sleep(TTL + 2)
        self.assertGreater(self.idp.stats()["token"]["orthanc-a"]["issued"], first)
        _, job = self.stow(make_study(3, seed=12))
        self.assertEqual(job["State"], "Success", job)

        # Revoke every token issued so far while A still holds one: the upstream refuses it.
        # A retrieve job refused that way is resubmitted once with a renewed token and succeeds.
        study = make_study(4, seed=13)
        self.upstream.stow(study.instances, token=self.idp.issue_token("orthanc-a"))
        self.assertGreater(self.idp.revoke_client("orthanc-a"), 0)
        r = self.a.rest("POST", "/dicom-web/servers/cloud/retrieve",
                        json={"Resources": [{"Study": study.study_instance_uid}], "Asynchronous": True})
        self.assertEqual(r.status, 200, r.text)
        job_id = r.json()["ID"]
        job = wait_until(lambda: (lambda j: j if j["State"] == "Success" else None)(
            self.a.get_json(f"/jobs/{job_id}")), 60, "the retrieve job to succeed after its resubmission")
        self.assertEqual(job["State"], "Success", job)
        for sop, digest in study.sha256_by_sop.items():
            self.assertEqual(sha256(self.a.instance_file(self.a.find_instance(sop))), digest)
        self.assertIn(f"resubmitting job {job_id} once", self.a.log_text())

        # A STOW job refused that way is NOT resubmitted (DICOMweb 1.7 would resend nothing and
        # report success): it stays failed with INJ-003, and the renewed token serves the next STOW.
        self.assertGreater(self.idp.revoke_client("orthanc-a"), 0)
        study = make_study(3, seed=14)
        _, job = self.stow(study)
        self.assertEqual(job["State"], "Failure", job)
        wait_until(lambda: "INJ-003" in self.a.log_text(), 15, "the INJ-003 log line")
        _, job = self.stow(study)
        self.assertEqual(job["State"], "Success", job)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)

    def test_no_secret_or_token_in_logs_or_pages(self):
        pages = [self.a.rest("GET", p).body for p in
                 ("/dicomweb-oauth/status", "/dicomweb-oauth/servers", "/dicomweb-oauth/metrics",
                  "/dicom-web/servers?expand")]
        assert_no_secret(self, [SECRET], self.a.log_text(), *pages)
        # The token itself: the upstream saw it; it must not be in A's log or pages either.
        tokens = [e.get("token") for e in self.upstream.access_entries() if e.get("token")]
        assert_no_secret(self, tokens, self.a.log_text(), *pages)


if __name__ == "__main__":
    testing.main()
