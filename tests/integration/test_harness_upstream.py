#!/usr/bin/python3
"""Harness self-test: the protected DICOMweb service (Orthanc B behind nginx + njs introspection).
No plugin involved: the requests come from this script."""
from harness import dicom, testing
from harness.http import basic_auth, request
from harness.idp import IdentityProvider, IdpClient, IdpResource
from harness.upstream import ProtectedDicomWeb

OTHER_RESOURCE = "https://other-api.example.test/"


def auth_values(response):
    return response.headers.get_all("WWW-Authenticate") or []


class IntrospectingUpstreamTest(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, resources=[IdpResource(), IdpResource(OTHER_RESOURCE)],
                                                 clients=[IdpClient("svc", "client_secret_basic"),
                                                          IdpClient("svc-jwt", "client_secret_post",
                                                                    token_format="jwt")]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, idp=cls.idp))

    def logged(self, call):
        """(response, its access log entry) of `call`, which sends one request through nginx."""
        response = call()
        return response, self.upstream.entry_for(response)

    def test_no_token_is_refused_with_a_challenge(self):
        r, entry = self.logged(lambda: self.upstream.qido("studies"))
        self.assertEqual(r.status, 401)
        self.assertEqual(auth_values(r), ['Bearer realm="gw-test-upstream"'])
        self.assertEqual((entry["auth"], entry["status"], entry["has_authorization"]), ("missing", 401, "no"))
        r = self.upstream.request("GET", "/dicom-web/studies", headers={"Authorization": "Basic eDp5"})
        self.assertEqual(r.status, 401)
        self.assertIn('error="invalid_request"', auth_values(r)[0])

    def test_invalid_token_is_refused(self):
        r, entry = self.logged(lambda: self.upstream.qido("studies", token="made-up-token"))
        self.assertEqual(r.status, 401)
        self.assertEqual(auth_values(r), ['Bearer realm="gw-test-upstream", error="invalid_token"'])
        self.assertEqual(r.json()["error"], "invalid_token")
        self.assertEqual(entry["auth"], "inactive")

    def test_valid_token_passes_and_revocation_takes_effect_at_once(self):
        for client in ("svc", "svc-jwt"):
            with self.subTest(client=client):
                token = self.idp.issue_token(client)
                r, entry = self.logged(lambda: self.upstream.qido("studies", token=token))
                self.assertEqual(r.status, 200, r.text)
                self.assertIsInstance(r.json(), list)
                self.assertEqual((entry["auth"], entry["status"], entry["has_authorization"]), ("active", 200, "yes"))
                self.assertTrue(self.idp.revoke(token))
                self.assertEqual(self.upstream.qido("studies", token=token).status, 401)

    def test_every_request_is_introspected(self):
        token = self.idp.issue_token("svc")
        before = self.idp.stats()["introspection"]["requests"]
        for _ in range(3):
            self.assertEqual(self.upstream.qido("studies", token=token).status, 200)
        self.assertEqual(self.idp.stats()["introspection"]["requests"] - before, 3)

    def test_introspection_failure_means_503(self):
        token = self.idp.issue_token("svc")
        self.idp.set_fault(route="introspection", status=500, count=1)
        try:
            r, entry = self.logged(lambda: self.upstream.qido("studies", token=token))
        finally:
            self.idp.clear_faults()
        self.assertEqual((r.status, entry["auth"]), (503, "idp-error"))
        self.assertEqual(self.upstream.qido("studies", token=token).status, 200)

    def test_stow_and_retrieve_are_byte_identical(self):
        token = self.idp.issue_token("svc")
        study = dicom.make_study(5, series_count=2, rows=128, columns=96, patient_id="UP-1")
        r, entry = self.logged(lambda: self.upstream.stow(study.instances, token=token))
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual((entry["method"], entry["uri"], entry["auth"]), ("POST", "/dicom-web/studies", "active"))

        # chunked upload of another study goes through the unbuffered proxy too
        chunked = dicom.make_study(3, rows=512, columns=512, patient_id="UP-2")
        r, entry = self.logged(lambda: self.upstream.stow(chunked.instances, token=token, chunked=True))
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual((entry["transfer_encoding"], entry["auth"]), ("chunked", "active"))
        self.assertGreater(entry["request_length"], chunked.total_bytes)

        for s in (study, chunked):
            retrieved = self.upstream.retrieve_study(s.study_instance_uid, token=token)
            self.assertEqual(len(retrieved), len(s.instances))
            got = {dicom.sop_instance_uid(d): dicom.sha256(d) for d in retrieved}
            self.assertEqual(got, s.sha256_by_sop)

        # QIDO sees the study; the backend holds it (checked directly, bypassing nginx)
        r = self.upstream.qido("studies?PatientID=UP-1", token=token)
        self.assertEqual([x["0020000D"]["Value"][0] for x in r.json()], [study.study_instance_uid])
        self.assertEqual(self.upstream.backend.count_instances(), 8)
        sop = study.specs[0].sop_instance_uid
        stored = self.upstream.backend.instance_file(self.upstream.backend.find_instance(sop))
        self.assertEqual(dicom.sha256(stored), study.sha256_by_sop[sop])

    def test_stow_without_token_stores_nothing(self):
        count = self.upstream.backend.count_instances()
        study = dicom.make_study(2)
        self.assertEqual(self.upstream.stow(study.instances).status, 401)
        self.assertEqual(self.upstream.backend.count_instances(), count)


class UpstreamModesTest(testing.TestCase):

    def test_idp_down_means_503(self):
        idp = self.use(IdentityProvider(self.ws, clients=[IdpClient("svc")]))
        upstream = self.use(ProtectedDicomWeb(self.ws, idp=idp))
        token = idp.issue_token("svc")
        self.assertEqual(upstream.qido("studies", token=token).status, 200)
        idp.stop()
        r = upstream.qido("studies", token=token)
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json()["error"], "temporarily_unavailable")
        self.assertEqual(upstream.entry_for(r)["auth"], "idp-error")
        idp.start()
        self.assertEqual(upstream.qido("studies", token=token).status, 200)

    def test_required_audience(self):
        idp = self.use(IdentityProvider(self.ws, resources=[IdpResource(), IdpResource(OTHER_RESOURCE)],
                                        clients=[IdpClient("svc")]))
        upstream = self.use(ProtectedDicomWeb(self.ws, idp=idp, required_audience="urn:gw-test:dicomweb"))
        self.assertEqual(upstream.qido("studies", token=idp.issue_token("svc")).status, 200)
        r = upstream.qido("studies", token=idp.issue_token("svc", resource=OTHER_RESOURCE))
        self.assertEqual(r.status, 401)
        self.assertEqual(upstream.entry_for(r)["auth"], "wrong-audience")

    def test_static_token_and_forwarded_authorization(self):
        # Orthanc B itself requires Basic auth; nginx injects it and accepts one static bearer token.
        upstream = self.use(ProtectedDicomWeb(
            self.ws, auth="static", static_token="static-bench-token",
            forward_authorization=basic_auth("orthanc-b", "b-pass"),
            orthanc_config={"AuthenticationEnabled": True, "RegisteredUsers": {"orthanc-b": "b-pass"}}))
        direct = request("GET", upstream.backend.url + "/dicom-web/studies")
        self.assertEqual(direct.status, 401)
        r = upstream.qido("studies", token="static-bench-token")
        self.assertEqual(r.status, 200)
        self.assertEqual(upstream.entry_for(r)["auth"], "static")
        self.assertEqual(upstream.qido("studies", token="other").status, 401)
        self.assertEqual(upstream.qido("studies").status, 401)

    def test_plain_proxy_and_tls(self):
        upstream = self.use(ProtectedDicomWeb(self.ws, auth="none", tls=True))
        self.assertTrue(upstream.url.startswith("https://"))
        r = upstream.qido("studies")
        self.assertEqual(r.status, 200, r.text)
        entry = upstream.entry_for(r)
        self.assertEqual(entry["auth"], "none")
        self.assertTrue(entry["ssl_protocol"].startswith("TLS"))
        study = dicom.make_study(2)
        self.assertEqual(upstream.stow(study.instances).status, 200)
        got = {dicom.sop_instance_uid(d): dicom.sha256(d) for d in upstream.retrieve_study(study.study_instance_uid)}
        self.assertEqual(got, study.sha256_by_sop)


if __name__ == "__main__":
    testing.main()
