#!/usr/bin/python3
"""Proxy mode, the data path: Orthanc A (DICOMweb + gateway, server "cloud" in proxy mode) talks to a
protected upstream (Orthanc B behind nginx that admits only tokens the IdP vouches for) through the
gateway's route. STOW (streamed, chunked), QIDO, WADO-RS retrieve into an empty Orthanc, metadata,
DELETE; byte identity of every instance; real statuses and bodies (409); a revoked token is
replayed once with a fresh one."""
# gw-test-timeout: 600

from harness import HarnessError, testing, wait_until
from harness.dicom import make_study, sha256, sop_instance_uid
from harness.http import multipart_related, parse_multipart
from harness.idp import IdentityProvider, IdpClient
from harness.upstream import ProtectedDicomWeb
from gwtest import (InProcessServer, LoopbackSecretCapture, QuietHandler, assert_no_secret, gateway_orthanc,
                    proxy_request, raw_http, wait_proxy_definition)

SECRET = "proxy-dataflow-client-secret-2b7e"


class BrokenWadoUpstream(InProcessServer):
    """A DICOMweb upstream whose WADO-RS answers break before the end: status 200, every instance
    but the last one whole, half of the last one, then the connection closes (no closing boundary)."""

    def __init__(self, ws, instances):
        self.instances = instances
        self.requests = []
        super().__init__(ws)

    @property
    def dicomweb_url(self):
        return self.url + "/dicom-web"

    class Handler(QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server naming)
            owner = self.server.owner
            owner.requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", 'multipart/related; type="application/dicom"; boundary=cut-here')
            self.send_header("Connection", "close")
            self.end_headers()
            for data in owner.instances[:-1]:
                self.wfile.write(b"--cut-here\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n")
            last = owner.instances[-1]
            self.wfile.write(b"--cut-here\r\nContent-Type: application/dicom\r\n\r\n" + last[:len(last) // 2])
            self.wfile.flush()
            self.close_connection = True


def first_value(element):
    """Value of a DICOM JSON element; the DICOMweb plugin's /qido route simplifies lists of one."""
    value = element["Value"]
    return value[0] if isinstance(value, list) else value


def server(idp, url, **over):
    s = {"Url": url, "TokenEndpoint": idp.token_url(), "ClientId": "orthanc-a", "ClientSecret": SECRET,
         "Scope": "dicomweb", "Resource": "urn:gw-test:dicomweb", "Mode": "proxy"}
    s.update(over)
    return s


class ProxyDataflow(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        # An upstream that accepts one fixed token only, never the gateway's: every request is a 401.
        cls.refusing = cls.use_class(ProtectedDicomWeb(cls.ws, auth="static", static_token="never-issued-token-0",
                                                       name="refusing"))
        # The same kind of upstream over HTTPS, its certificate issued by the test CA.
        cls.tls_upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp, tls=True, name="tls-upstream"))
        # Orthanc 1.10 writes each part of a multipart answer out only when the next one comes (or
        # the answer ends): a failure right after the first part still becomes a clean 500. With
        # three whole parts before the cut, the answer has started and must be cut.
        cls.broken_study = make_study(4, seed=27, rows=128, columns=128)
        cls.broken = cls.use_class(BrokenWadoUpstream(cls.ws, cls.broken_study.instances))
        cls.capture = LoopbackSecretCapture(cls.ws)
        servers = {"cloud": server(cls.idp, cls.upstream.dicomweb_url, HasDelete=True),
                   # Orthanc B's own REST API through the same nginx: a real DELETE target.
                   "native": server(cls.idp, cls.upstream.url + "/", HasDelete=True),
                   "down": server(cls.idp, "http://127.0.0.1:9/dicom-web/"),
                   "refusing": server(cls.idp, cls.refusing.dicomweb_url),
                   "tls": server(cls.idp, cls.tls_upstream.dicomweb_url, CaBundle=str(cls.tls_upstream.ca_file)),
                   "tls-untrusted": server(cls.idp, cls.tls_upstream.dicomweb_url),
                   "broken": server(cls.idp, cls.broken.dicomweb_url)}
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers=servers, config=cls.capture.config(),
                                              section={"LogLevel": "debug"}))
        # An empty Orthanc that retrieves through its own gateway.
        cls.c = cls.use_class(gateway_orthanc(cls.ws, name="orthanc-c", servers={"cloud": servers["cloud"]},
                                              section={"LogLevel": "debug"}))
        wait_proxy_definition(cls.a, "cloud")
        wait_proxy_definition(cls.c, "cloud")
        cls.secret = cls.capture.secret(cls.a, "cloud")

    # -- helpers -------------------------------------------------------------------------------

    def load(self, orthanc, study):
        ids = [orthanc.upload(d)["ID"] for d in study.instances]
        return orthanc.get_json(f"/instances/{ids[0]}/study")["ID"]

    def stow(self, orthanc, study_id):
        r = orthanc.rest("POST", "/dicom-web/servers/cloud/stow", json={"Resources": [study_id], "Synchronous": False})
        self.assertEqual(r.status, 200, r.text)
        return orthanc.wait_job(r.json()["ID"], timeout=300)

    # -- tests ---------------------------------------------------------------------------------

    def test_stow_qido_retrieve_round_trip_byte_identical(self):
        study = make_study(12, series_count=2, seed=21, rows=256, columns=256)
        mark = self.upstream.log_mark()
        job = self.stow(self.a, self.load(self.a, study))
        self.assertEqual(job["State"], "Success", job)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)
        posts = [e for e in self.upstream.new_entries(mark) if e["method"] == "POST"]
        self.assertTrue(posts)
        for e in posts:
            self.assertEqual(e["uri"], "/dicom-web/studies")
            self.assertEqual(e["transfer_encoding"], "chunked")  # streamed, never buffered whole
            self.assertEqual(e["auth"], "active")
            self.assertEqual(e["status"], 200)

        # QIDO through A's DICOMweb client.
        r = self.a.rest("POST", "/dicom-web/servers/cloud/qido",
                        json={"Uri": "/studies", "Arguments": {"StudyInstanceUID": study.study_instance_uid}})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(len(r.json()), 1)
        self.assertEqual(first_value(r.json()[0]["0020000D"]), study.study_instance_uid)
        r = self.a.rest("POST", "/dicom-web/servers/cloud/qido",
                        json={"Uri": f"/studies/{study.study_instance_uid}/series",
                              "Arguments": {"includefield": "0008103E,00200011", "limit": "10"}})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(sorted(first_value(s["0020000E"]) for s in r.json()), sorted(study.series_instance_uids))

        # Metadata through /get.
        r = self.a.rest("POST", "/dicom-web/servers/cloud/get",
                        json={"Uri": f"/studies/{study.study_instance_uid}/metadata"})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(len(r.json()), 12)

        # WADO-RS retrieve into the empty Orthanc C (its DICOMweb client, its own gateway).
        self.assertEqual(self.c.count_instances(), 0)
        r = self.c.rest("POST", "/dicom-web/servers/cloud/retrieve",
                        json={"Resources": [{"Study": study.study_instance_uid}], "Asynchronous": True})
        self.assertEqual(r.status, 200, r.text)
        job = self.c.wait_job(r.json()["ID"], timeout=300)
        self.assertEqual(job["State"], "Success", job)
        self.assertEqual(self.c.instance_hashes(study.sha256_by_sop), study.sha256_by_sop)
        # The multipart answers went through part by part.
        self.assertRegex(self.c.log_text(), r"proxy: GET server 'cloud' -> 200 \(\d+ bytes, [1-9]\d* parts")

    def test_direct_wado_rs_answer_is_a_valid_multipart_stream(self):
        study = make_study(5, seed=22)
        self.assertEqual(self.upstream.stow(study.instances, token=self.idp.issue_token("orthanc-a", scope="dicomweb",
                                                                                       resource="urn:gw-test:dicomweb")).status, 200)
        r = proxy_request(self.a, "cloud", "GET", f"studies/{study.study_instance_uid}", secret=self.secret,
                          headers={"Accept": 'multipart/related; type="application/dicom"'})
        self.assertEqual(r.status, 200, r.text[:300])
        self.assertTrue(r.headers.get("Content-Type").startswith('multipart/related; type="application/dicom"'))
        parts = parse_multipart(r.headers.get("Content-Type"), r.body)
        self.assertEqual({sop_instance_uid(d): sha256(d) for _, d in parts}, study.sha256_by_sop)
        for headers, _ in parts:
            self.assertEqual(headers["content-type"], "application/dicom")
        # A frame of one instance (multipart/related; type=application/octet-stream).
        spec = study.specs[0]
        r = proxy_request(self.a, "cloud", "GET",
                          f"studies/{spec.study_instance_uid}/series/{spec.series_instance_uid}/instances/"
                          f"{spec.sop_instance_uid}/frames/1", secret=self.secret,
                          headers={"Accept": 'multipart/related; type="application/octet-stream"'})
        self.assertEqual(r.status, 200, r.text[:300])
        self.assertEqual(len(parse_multipart(r.headers.get("Content-Type"), r.body)), 1)

    def test_upstream_409_comes_back_with_its_body(self):
        study = make_study(2, seed=23)
        content_type, body = multipart_related(study.instances)
        wrong_study = "1.2.3.4.5.6.7.8.9"
        chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
        r = proxy_request(self.a, "cloud", "POST", f"studies/{wrong_study}", secret=self.secret, body=chunks,
                          chunked=True, headers={"Content-Type": content_type, "Accept": "application/dicom+json"})
        self.assertEqual(r.status, 409, r.text[:500])
        answer = r.json()
        self.assertIn("00081198", answer)  # FailedSOPSequence
        self.assertEqual(len(answer["00081198"]["Value"]), 2)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), {})

    def test_delete_through_the_route(self):
        study = make_study(2, seed=24)
        self.assertEqual(self.upstream.stow(study.instances, token=self.idp.issue_token(
            "orthanc-a", scope="dicomweb", resource="urn:gw-test:dicomweb")).status, 200)
        b = self.upstream.backend
        study_id = b.rest("POST", "/tools/lookup", body=study.study_instance_uid.encode()).json()[0]["ID"]
        native_secret = self.capture.secret(self.a, "native")
        mark = self.upstream.log_mark()
        r = proxy_request(self.a, "native", "DELETE", f"studies/{study_id}", secret=native_secret)
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), {})
        # (entries of the secret capture's QIDO may be logged after the mark: look for the DELETE)
        entry = wait_until(lambda: next((e for e in self.upstream.access_entries()[mark:] if e["method"] == "DELETE"),
                                        None), 10, "the DELETE in the access log")
        self.assertEqual((entry["method"], entry["uri"], entry["status"], entry["auth"]),
                         ("DELETE", f"/studies/{study_id}", 200, "active"))
        # Orthanc's DICOMweb server has no DELETE: its 405 comes back as a 405 with Allow.
        r = proxy_request(self.a, "cloud", "DELETE", f"studies/{study.study_instance_uid}", secret=self.secret)
        self.assertEqual(r.status, 405, r.text)

    def test_revoked_token_is_rejected_and_replayed_once(self):
        # Prime the token cache with a first request, then revoke every token the IdP issued.
        r = self.a.rest("POST", "/dicom-web/servers/cloud/qido", json={"Uri": "/studies"})
        self.assertEqual(r.status, 200, r.text)
        self.assertGreater(self.idp.revoke_client("orthanc-a"), 0)
        mark = self.upstream.log_mark()
        r = self.a.rest("POST", "/dicom-web/servers/cloud/qido", json={"Uri": "/studies", "Arguments": {"offset": "3"}})
        self.assertEqual(r.status, 200, r.text)

        def attempts():
            found = [e for e in self.upstream.access_entries()[mark:] if e["uri"] == "/dicom-web/studies?offset=3"]
            return found if len(found) >= 2 else None
        entries = wait_until(attempts, 10, "both attempts in the access log")
        self.assertEqual([(e["status"], e["auth"]) for e in entries], [(401, "inactive"), (200, "active")])
        self.assertIn("credential dropped, request replayed once", self.a.log_text())

        # The same for a streamed STOW: nginx refuses it after the headers (no 100-continue is
        # asked for), the upload stops at the 401 and the request is replayed from the bytes the
        # gateway kept, so the whole study arrives once, with the fresh token.
        study = make_study(6, seed=25, rows=256, columns=256)
        study_id = self.load(self.a, study)
        self.assertGreater(self.idp.revoke_client("orthanc-a"), 0)
        mark = self.upstream.log_mark()
        job = self.stow(self.a, study_id)
        self.assertEqual(job["State"], "Success", job)
        posts = [e for e in self.upstream.new_entries(mark, min_count=2) if e["method"] == "POST"]
        self.assertEqual([(e["status"], e["auth"]) for e in posts[:2]], [(401, "inactive"), (200, "active")])
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)

    def test_a_401_that_persists_comes_back_with_its_challenge(self):
        secret = self.capture.secret(self.a, "refusing")  # its QIDO fails (401); the secret is captured anyway
        mark = self.refusing.log_mark()
        r = proxy_request(self.a, "refusing", "GET", "studies?offset=7", secret=secret)
        self.assertEqual(r.status, 401, r.text)
        self.assertTrue(r.headers.get("WWW-Authenticate", "").startswith("Bearer"), dict(r.headers))
        self.assertEqual(r.json()["error"], "invalid_token")
        # Exactly one replay with a fresh credential, then the real answer.
        def both():
            found = [e for e in self.refusing.access_entries()[mark:] if e["uri"] == "/dicom-web/studies?offset=7"]
            return found if len(found) >= 2 else None
        entries = wait_until(both, 10, "both attempts in the access log")
        self.assertEqual([e["status"] for e in entries], [401, 401])

    def test_https_upstream_verified_with_the_configured_ca(self):
        mark = self.tls_upstream.log_mark()
        r = self.a.rest("POST", "/dicom-web/servers/tls/qido", json={"Uri": "/studies", "Arguments": {"offset": "5"}})
        self.assertEqual(r.status, 200, r.text)
        entry = wait_until(lambda: next((e for e in self.tls_upstream.access_entries()[mark:]
                                         if e["uri"] == "/dicom-web/studies?offset=5"), None), 10, "the QIDO over TLS")
        self.assertEqual((entry["status"], entry["auth"]), (200, "active"))
        self.assertIn(entry["ssl_protocol"], ("TLSv1.2", "TLSv1.3"))
        # Without the CA bundle the certificate does not verify: nothing is sent.
        self.a.rest("POST", "/dicom-web/servers/tls-untrusted/qido", json={"Uri": "/studies"})
        r = proxy_request(self.a, "tls-untrusted", "GET", "studies", secret=self.capture.secret(self.a, "tls-untrusted"))
        self.assertEqual(r.status, 502, r.text)
        self.assertEqual(r.json()["error"]["code"], "PXY-003")
        self.assertIn("NET-003", r.json()["error"]["message"])

    def test_a_multipart_answer_broken_midway_is_never_a_short_valid_one(self):
        uid = self.broken_study.study_instance_uid
        # Straight to the route: the first part arrives, then the answer ends without its boundary.
        self.a.rest("POST", "/dicom-web/servers/broken/qido", json={"Uri": "/studies"})
        secret = self.capture.secret(self.a, "broken")
        status, headers, body = raw_http(
            self.a.http_port, f"GET /oauth-dicom-web/servers/broken/studies/{uid} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              f"X-DicomWeb-OAuth-Gateway: {secret}\r\nConnection: close\r\n\r\n")
        self.assertEqual(status, 200, (headers, body[:400]))
        self.assertIn(self.broken_study.instances[0], body)
        self.assertNotIn(self.broken_study.instances[-1], body)
        self.assertNotIn(b"--\r\n", body[-80:])  # no closing boundary
        # A last part that is not DICOM, so that clients which accept a missing boundary fail too.
        self.assertIn(b"DICOMWEB-OAUTH-GATEWAY-ABORTED PXY-00", body)
        with self.assertRaises(HarnessError):
            parse_multipart(headers["content-type"], body)
        self.assertRegex(self.a.log_text(), r"proxy: GET server 'broken' failed after \d+ ms: PXY-00[37]")
        # Through Orthanc's own DICOMweb client: without that last part its retrieve job would end in
        # "Success" with 3 of the 4 instances (measured); it must fail.
        r = self.a.rest("POST", "/dicom-web/servers/broken/retrieve",
                        json={"Resources": [{"Study": uid}], "Asynchronous": True})
        self.assertEqual(r.status, 200, r.text)
        job = self.a.wait_job(r.json()["ID"], timeout=120)
        self.assertEqual(job["State"], "Failure", job)

    def test_larger_stow_streams_through_the_bounded_queue(self):
        # ~48 MB in one STOW request: many 1 MiB chunks through a 4 MiB queue.
        study = make_study(12, seed=26, rows=1448, columns=1448)
        self.assertGreater(study.total_bytes, 48_000_000)
        job = self.stow(self.a, self.load(self.a, study))
        self.assertEqual(job["State"], "Success", job)
        self.assertEqual(self.upstream.backend.study_hashes(study.study_instance_uid), study.sha256_by_sop)

    def test_unreachable_upstream_is_502_with_the_net_code(self):
        # Nothing listens behind "down". Its QIDO (which lets the Lua filter capture the secret)
        # fails in the DICOMweb plugin, which keeps only the status; straight to the route the 502
        # and its code are visible.
        r = self.a.rest("POST", "/dicom-web/servers/down/qido", json={"Uri": "/studies"})
        self.assertGreaterEqual(r.status, 400)
        secret = self.capture.secret(self.a, "down")
        r = proxy_request(self.a, "down", "GET", "studies", secret=secret)
        self.assertEqual(r.status, 502, r.text)
        error = r.json()["error"]
        self.assertEqual(error["code"], "PXY-003")
        self.assertIn("NET-001", error["message"])
        self.assertIn("127.0.0.1:9", error["message"])

    def test_no_secret_or_token_in_logs(self):
        pages = [self.a.rest("GET", p).body for p in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers",
                                                       "/dicom-web/servers?expand")]
        assert_no_secret(self, [SECRET, self.secret], self.a.log_text(), self.c.log_text(), *pages)


if __name__ == "__main__":
    testing.main()
