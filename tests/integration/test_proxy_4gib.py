#!/usr/bin/python3
"""A STOW body larger than 4 GiB through the proxy route, byte for byte.

Orthanc 1.10.1 hands plain REST callbacks the body size in a 32-bit field and silently truncates
bodies of 4 GiB or more (the Python plugin forwarded 111 MB of a 4.4 GB study). The gateway takes
bodies only through the chunked REST callback. Here 4 GiB + 48 MiB are streamed with
`Transfer-Encoding: chunked` to Orthanc A's `/oauth-dicom-web/servers/sink/studies`, generated on the
fly (nothing held in memory), and a sink upstream hashes what arrives: the byte count and SHA-256
must equal what was sent, with the IdP's token on the request, while Orthanc A's memory stays flat."""
# gw-test-timeout: 900
import hashlib
import json
import random
import threading

from harness import testing
from harness.http import request
from harness.idp import IdentityProvider, IdpClient
from gwtest import (InProcessServer, LoopbackSecretCapture, LOOPBACK_SECRET_HEADER, QuietHandler,
                    gateway_orthanc, rss_bytes)

SECRET = "proxy-4gib-client-secret-0e7d"
TOTAL = 4 * 2**30 + 48 * 2**20
CHUNK = 2**20
CONTENT_TYPE = 'multipart/related; type="application/dicom"; boundary=gw-4gib'


class HashingSink(InProcessServer):
    """A DICOMweb "upstream" that reads every STOW body as it streams in and keeps only its length and
    SHA-256. QIDO answers `[]` (the DICOMweb plugin's QIDO that reveals the loopback secret)."""

    def __init__(self, ws):
        self.received = []
        super().__init__(ws)

    @property
    def dicomweb_url(self):
        return self.url + "/dicom-web"

    class Handler(QuietHandler):
        def do_GET(self):  # noqa: N802
            self.answer(200, b"[]", "application/dicom+json")

        def read_chunked(self, digest):
            size = 0
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return size
                size += self.read_exact(n, digest)
                self.rfile.readline()

        def read_exact(self, n, digest):
            left = n
            while left:
                piece = self.rfile.read(min(left, 4 * CHUNK))
                if not piece:
                    raise ConnectionError("body cut short")
                digest.update(piece)
                left -= len(piece)
            return n

        def do_POST(self):  # noqa: N802
            digest = hashlib.sha256()
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                size = self.read_chunked(digest)
            else:
                size = self.read_exact(int(self.headers.get("Content-Length", "0")), digest)
            self.server.owner.received.append({
                "size": size, "sha256": digest.hexdigest(), "path": self.path,
                "authorization": self.headers.get("Authorization", ""),
                "content_type": self.headers.get("Content-Type", "")})
            self.answer(200, json.dumps({"00081190": {"vr": "UR", "Value": ["done"]}}).encode(),
                        "application/dicom+json")


class Body:
    """4 GiB + 48 MiB of pseudo-random bytes in 1 MiB pieces, made on the fly; hashes what it yields."""

    def __init__(self):
        self.block = random.Random(4).randbytes(CHUNK)
        self.digest = hashlib.sha256()
        self.sent = 0

    def __iter__(self):
        index = 0
        while self.sent < TOTAL:
            piece = index.to_bytes(8, "big") + self.block[8:min(CHUNK, TOTAL - self.sent)]
            self.digest.update(piece)
            self.sent += len(piece)
            index += 1
            yield piece


class Beyond4GiB(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET)]))
        cls.sink = cls.use_class(HashingSink(cls.ws))
        cls.capture = LoopbackSecretCapture(cls.ws)
        server = {"Url": cls.sink.dicomweb_url, "Mode": "proxy", "TokenEndpoint": cls.idp.token_url(),
                  "ClientId": "orthanc-a", "ClientSecret": SECRET, "Scope": "dicomweb",
                  "Resource": "urn:gw-test:dicomweb"}
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers={"sink": server}, config=cls.capture.config()))
        cls.secret = cls.capture.secret(cls.a, "sink")

    def test_a_body_over_4_gib_arrives_whole(self):
        body = Body()
        peak = before = rss_bytes(self.a.process.pid)
        stop = threading.Event()

        def sample():
            nonlocal peak
            while not stop.wait(0.1):
                peak = max(peak, rss_bytes(self.a.process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            r = request("POST", f"{self.a.url}/oauth-dicom-web/servers/sink/studies", body=iter(body),
                        chunked=True, timeout=600,
                        headers={LOOPBACK_SECRET_HEADER: self.secret, "Content-Type": CONTENT_TYPE,
                                 "Accept": "application/dicom+json"})
        finally:
            stop.set()
            sampler.join()
        self.assertEqual(r.status, 200, r.text[:300])
        self.assertEqual(body.sent, TOTAL)
        posts = [x for x in self.sink.received if x["path"] == "/dicom-web/studies"]
        self.assertEqual(len(posts), 1, self.sink.received)
        self.assertEqual(posts[0]["size"], TOTAL)
        self.assertEqual(posts[0]["sha256"], body.digest.hexdigest())
        self.assertTrue(posts[0]["authorization"].startswith("Bearer "), "no token on the upstream request")
        self.assertEqual(posts[0]["content_type"], CONTENT_TYPE)
        growth = peak - before
        print(f"\n{TOTAL / 2**30:.2f} GiB streamed; Orthanc A RSS growth {growth / 2**20:.0f} MiB")
        # Streaming, not buffering: far less than the body (not a performance target; see bench/).
        self.assertLess(growth, 512 * 2**20)


if __name__ == "__main__":
    testing.main()
