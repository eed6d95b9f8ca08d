#!/usr/bin/python3
"""Harness self-test: the Orthanc component (start, REST, upload, restart, ${VAR} substitution, refused
configurations) and Orthanc's own DICOMweb client sending to the protected upstream with a bearer
header, which is the path the gateway's inject mode relies on. No plugin of ours involved."""
from harness import dicom, testing
from harness.errors import HarnessError
from harness.idp import IdentityProvider, IdpClient
from harness.orthanc import DICOMWEB_PLUGIN, Orthanc
from harness.upstream import ProtectedDicomWeb


class OrthancHarnessTest(testing.TestCase):

    def test_start_rest_upload_restart(self):
        orthanc = self.use(Orthanc(self.ws, plugins=[DICOMWEB_PLUGIN]))
        status, headers, body = orthanc.rest("GET", "/system")
        self.assertEqual(status, 200)
        self.assertEqual(orthanc.get_json("/system")["Version"], "1.10.1")
        self.assertIn("dicom-web", orthanc.get_json("/plugins"))
        self.assertNotEqual(orthanc.http_port, orthanc.dicom_port)

        study = dicom.make_study(3, patient_id="ORTHANC-1")
        answers = orthanc.upload_many(study.instances)
        self.assertEqual([a["Status"] for a in answers], ["Success"] * 3)
        sop = study.specs[1].sop_instance_uid
        stored = orthanc.instance_file(orthanc.find_instance(sop))
        self.assertEqual(dicom.sha256(stored), study.sha256_by_sop[sop])

        orthanc.restart()
        self.assertEqual(orthanc.count_instances(), 3)
        self.assertIn("Orthanc has started", orthanc.log_text())
        self.assertEqual(orthanc.stop(), 0)
        self.assertIn("Orthanc has stopped", orthanc.log_text())

    def test_environment_substitution_and_authentication(self):
        orthanc = self.use(Orthanc(self.ws, config={"Name": "${GW_TEST_NAME}", "DicomAet": "${GW_UNSET_VAR}X"},
                                   env={"GW_TEST_NAME": "from-env"}, users={"alice": "alice-pass"}))
        self.assertEqual(orthanc.get_json("/system")["Name"], "from-env")
        self.assertEqual(orthanc.get_json("/system")["DicomAet"], "X")
        self.assertEqual(orthanc.rest("GET", "/system", auth=False).status, 401)
        self.assertEqual(orthanc.rest("GET", "/system", auth=("alice", "wrong")).status, 401)

    def test_refused_configurations(self):
        bad = self.ws.dir("bad-plugin") / "libBad.so"
        bad.write_text("not a shared library")
        code, log = Orthanc(self.ws, plugins=[bad]).start_expecting_failure()
        self.assertNotEqual(code, 0)
        self.assertIn("Error while using a shared library", log)

        with self.assertRaisesRegex(HarnessError, "HAR-208"):
            Orthanc(self.ws, plugins=[self.ws.path / "missing.so"]).start()

        good = Orthanc(self.ws)
        with self.assertRaisesRegex(HarnessError, "HAR-202"):
            good.start_expecting_failure()
        self.assertFalse(good.running)


class DicomWebClientThroughUpstreamTest(testing.TestCase):

    def test_stow_with_bearer_header(self):
        idp = self.use(IdentityProvider(self.ws, clients=[IdpClient("svc", "client_secret_basic")]))
        upstream = self.use(ProtectedDicomWeb(self.ws, idp=idp))
        orthanc = self.use(Orthanc(self.ws, plugins=[DICOMWEB_PLUGIN], name="orthanc-a",
                                   dicomweb={"Servers": {"cloud": {"Url": upstream.dicomweb_url + "/"}}}))
        study = dicom.make_study(4, rows=256, columns=256, patient_id="CLIENT-1")
        orthanc_study = orthanc.upload_many(study.instances)[0]["ParentStudy"]

        # no Authorization header: the upstream refuses, nothing is stored
        r = orthanc.rest("POST", "/dicom-web/servers/cloud/stow",
                         json={"Resources": [orthanc_study], "Synchronous": True})
        self.assertNotEqual(r.status, 200)
        self.assertEqual(upstream.backend.count_instances(), 0)

        # the definition updated with a bearer header (what inject mode does), then STOW again
        token = idp.issue_token("svc")
        r = orthanc.rest("PUT", "/dicom-web/servers/cloud", json={
            "Url": upstream.dicomweb_url + "/", "HttpHeaders": {"Authorization": f"Bearer {token}"}})
        self.assertEqual(r.status, 200, r.text)
        r = orthanc.rest("POST", "/dicom-web/servers/cloud/stow",
                         json={"Resources": [orthanc_study], "Synchronous": True})
        self.assertEqual(r.status, 200, r.text)
        retrieved = upstream.retrieve_study(study.study_instance_uid, token=token)
        self.assertEqual({dicom.sop_instance_uid(d): dicom.sha256(d) for d in retrieved}, study.sha256_by_sop)

        stows = [e for e in upstream.access_entries() if e["method"] == "POST"]
        self.assertEqual([(e["status"], e["auth"]) for e in stows], [(401, "missing"), (200, "active")])
        self.assertEqual(stows[-1]["transfer_encoding"], "chunked")  # DICOMweb ChunkedTransfers default


if __name__ == "__main__":
    testing.main()
