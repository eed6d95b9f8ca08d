#!/usr/bin/python3
"""An independent client through the proxy routes: `dicomweb-client` from npm (the library web viewers
use), under Node, talks to Orthanc A's `/oauth-dicom-web/servers/cloud/` as to any DICOMweb server.
It stores a study (STOW-RS), queries it (QIDO-RS studies/series/instances), reads its metadata,
retrieves every instance (WADO-RS) and one frame; the gateway adds the IdP token on the way to the
protected upstream. Every instance must come back byte-identical, the upstream must have seen only
IdP-vouched tokens, and without the loopback secret the same client gets nothing."""
# gw-test-timeout: 300
import json
import subprocess

from harness import env, testing
from harness.dicom import make_study, sha256, sop_instance_uid, write_files
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import LoopbackSecretCapture, LOOPBACK_SECRET_HEADER, assert_no_secret, gateway_orthanc

SECRET = "dicomweb-client-test-secret-5d1a"
CLIENT_DIR = env.SOURCE_DIR / "tests" / "fixtures" / "dicomweb-client"


class DicomwebClient(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not (CLIENT_DIR / "node_modules" / "dicomweb-client").is_dir():
            raise RuntimeError(f"run `npm ci` in {CLIENT_DIR} (scripts/test.sh does)")
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.capture = LoopbackSecretCapture(cls.ws)
        server = {"Url": cls.upstream.dicomweb_url, "Mode": "proxy", "TokenEndpoint": cls.idp.token_url(),
                  "ClientId": "orthanc-a", "ClientSecret": SECRET, "Scope": "dicomweb",
                  "Resource": "urn:gw-test:dicomweb",
                  # Orthanc has authentication on: the DICOMweb plugin's loopback calls need a user.
                  "Username": "alice", "Password": "alice-orthanc-password"}
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers={"cloud": server}, config=cls.capture.config(),
                                              users={"alice": "alice-orthanc-password"}))
        cls.secret = cls.capture.secret(cls.a, "cloud")

    def run_client(self, options, expect_ok=True):
        proc = subprocess.run([env.node_bin(), str(CLIENT_DIR / "client.js"), json.dumps(options)],
                              capture_output=True, text=True, timeout=180, cwd=str(CLIENT_DIR))
        if expect_ok:
            self.assertEqual(proc.returncode, 0, proc.stderr)
            return json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertNotEqual(proc.returncode, 0, proc.stdout)
        return proc.stderr

    def options(self, study_uid, out, store=(), secret=True):
        headers = dict(self.a._auth_headers())
        if secret:
            headers[LOOPBACK_SECRET_HEADER] = self.secret
        return {"url": f"{self.a.url}/oauth-dicom-web/servers/cloud", "headers": headers,
                "studyUid": study_uid, "outDir": str(out), "store": [str(p) for p in store]}

    def test_store_query_retrieve_byte_identical(self):
        study = make_study(6, series_count=2, seed=77, rows=128, columns=128)
        files = write_files(self.ws.dir("client-in"), study.instances)
        out = self.ws.dir("client-out")
        mark = self.upstream.log_mark()
        summary = self.run_client(self.options(study.study_instance_uid, out, store=files))

        self.assertEqual(summary["stored"], 6)
        self.assertEqual(summary["studies"], [study.study_instance_uid])
        self.assertEqual(summary["series"], sorted(study.series_instance_uids))
        self.assertEqual(summary["instances"], 6)
        self.assertEqual(summary["metadata"], 6)
        self.assertEqual(summary["retrieved"], 6)
        self.assertEqual(summary["frameBytes"], 128 * 128 * 2)  # one 16-bit frame
        back = {}
        for path in out.glob("*.dcm"):
            data = path.read_bytes()
            back[sop_instance_uid(data)] = sha256(data)
        self.assertEqual(back, study.sha256_by_sop)

        # What reached the cloud: every request carried a token the IdP vouched for.
        entries = self.upstream.new_entries(mark, min_count=6)
        self.assertTrue(any(e["method"] == "POST" for e in entries))
        for e in entries:
            self.assertEqual(e["auth"], "active", e)
        assert_no_secret(self, [SECRET, self.secret], self.a.log_text())

    def test_without_the_loopback_secret_nothing_gets_through(self):
        mark = self.upstream.log_mark()
        err = self.run_client(self.options("1.2.3.4", self.ws.dir("client-denied"), secret=False),
                              expect_ok=False)
        self.assertIn("HTTP 403", err)
        self.assertEqual(self.upstream.access_entries()[mark:], [])


if __name__ == "__main__":
    testing.main()
