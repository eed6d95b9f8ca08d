#!/usr/bin/python3
"""Hardening, JSON bodies: a small request nested a thousand levels deep once killed Orthanc (a
recursive parse overflowed the small stack of Orthanc's HTTP threads). Every JSON body the plugin
reads is now parsed iteratively with a depth and size bound: the request gets a clear 400 and
Orthanc keeps serving."""
# gw-test-timeout: 180
from harness import testing
from gwtest import gateway_orthanc

SECRET = "hardening-json-client-secret-5d1e"


class DeepJsonBodies(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        server = {"Url": "http://127.0.0.1:9/dicom-web/", "TokenEndpoint": "http://127.0.0.1:9/token",
                  "ClientId": "orthanc", "ClientSecret": SECRET, "Scope": "dicom"}
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, servers={"cloud": server}))

    def assert_still_serving(self):
        self.assertTrue(self.orthanc.running, "Orthanc died:\n" + self.orthanc.log_text()[-3000:])
        self.assertEqual(self.orthanc.rest("GET", "/system").status, 200)
        self.assertEqual(self.orthanc.rest("GET", "/dicomweb-oauth/status").status, 200)

    def test_deeply_nested_test_route_body_is_refused_and_orthanc_survives(self):
        for depth in (1000, 10000, 100000):
            for body in ("[" * depth + "]" * depth, '{"Fresh":' * depth + "false" + "}" * depth):
                with self.subTest(depth=depth, kind=body[0]):
                    r = self.orthanc.rest("POST", "/dicomweb-oauth/servers/cloud/test", body=body.encode(),
                                          headers={"Content-Type": "application/json"})
                    self.assertEqual(r.status, 400, r.text[:300])
                    self.assertIn("GW-400", r.text)
                    self.assert_still_serving()

    def test_unterminated_deep_body_is_refused_and_orthanc_survives(self):
        r = self.orthanc.rest("POST", "/dicomweb-oauth/servers/cloud/test", body=b"[" * 500000)
        self.assertEqual(r.status, 400, r.text[:300])
        self.assert_still_serving()

    def test_shallow_body_still_works(self):
        # The bound only refuses what is deeper than any real body: {"Fresh": false} is still read
        # (the IdP is unreachable, so the answer is a token error, not a body error).
        r = self.orthanc.rest("POST", "/dicomweb-oauth/servers/cloud/test", json={"Fresh": False})
        self.assertNotIn("GW-400", r.text)
        self.assertNotIn(SECRET, r.text)


if __name__ == "__main__":
    testing.main()
