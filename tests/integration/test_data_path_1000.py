#!/usr/bin/python3
"""A 1000-instance study through each mode: Orthanc A (DICOMweb + gateway) sends it with its own
DICOMweb client to the protected upstream (Orthanc B behind nginx, tokens checked with the IdP),
then retrieves it back after deleting its own copy. Every instance must come back byte-identical
(SHA-256), in inject mode and in proxy mode."""
# gw-test-timeout: 900
import time

from harness import testing
from harness.dicom import make_study, sha256, sop_instance_uid
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import gateway_orthanc, wait_proxy_definition

SECRET = "data-path-1000-client-secret-91c3"
COUNT = 1000


class Thousand(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        common = {"Url": cls.upstream.dicomweb_url, "TokenEndpoint": cls.idp.token_url(), "ClientId": "orthanc-a",
                  "ClientSecret": SECRET, "Scope": "dicomweb", "Resource": "urn:gw-test:dicomweb"}
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers={"inj": {**common, "Mode": "inject"},
                                                               "pxy": {**common, "Mode": "proxy"}}))
        wait_proxy_definition(cls.a, "pxy")

    def round_trip(self, server, seed):
        a, b = self.a, self.upstream.backend
        study = make_study(COUNT, series_count=4, seed=seed)
        ids = [a.upload(d)["ID"] for d in study.instances]
        study_id = a.get_json(f"/series/{a.get_json('/instances/' + ids[0])['ParentSeries']}")["ParentStudy"]

        t0 = time.monotonic()
        job = a.post_json(f"/dicom-web/servers/{server}/stow", {"Resources": [study_id], "Synchronous": False})
        job = a.wait_job(job["ID"], timeout=600)
        stow_s = time.monotonic() - t0
        self.assertEqual(job["State"], "Success", job)

        self.assertEqual(b.study_hashes(study.study_instance_uid), study.sha256_by_sop)

        self.assertEqual(a.rest("DELETE", f"/studies/{study_id}").status, 200)
        t0 = time.monotonic()
        job = a.post_json(f"/dicom-web/servers/{server}/retrieve",
                          {"Resources": [{"Study": study.study_instance_uid}], "Asynchronous": True})
        job = a.wait_job(job["ID"], timeout=600)
        retrieve_s = time.monotonic() - t0
        self.assertEqual(job["State"], "Success", job)
        back = {}
        for inst in a.get_json(f"/studies/{study_id}/instances"):
            data = a.instance_file(inst["ID"])
            back[sop_instance_uid(data)] = sha256(data)
        self.assertEqual(back, study.sha256_by_sop)
        print(f"\n{server}: {COUNT} instances, {sum(map(len, study.instances)) / 1e6:.1f} MB: "
              f"STOW {stow_s:.1f} s, retrieve {retrieve_s:.1f} s (job timings include Orthanc's 500 ms steps)")

    def test_inject_mode(self):
        self.round_trip("inj", seed=1000)

    def test_proxy_mode(self):
        self.round_trip("pxy", seed=2000)


if __name__ == "__main__":
    testing.main()
