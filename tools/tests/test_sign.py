#!/usr/bin/python3
"""`dicomweb-oauth sign` end to end (ctest cli/sign): the CLI's output for a fixed time is compared
byte for byte with the headers botocore (the reference SigV4 signer, Debian python3-botocore)
computes for the same request; a bearer provider (a real client_credentials acquisition from a
local token endpoint, and a static token) prints `Authorization: Bearer ...`; usage errors.
Credential values are masked unless --show-credentials is given, and a URL outside the server's
upstreams (Url, Targets) is refused before any acquisition.

    test_sign.py <dicomweb-oauth> <source dir>
"""
import hashlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CLI = SOURCE = None
KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION = "FQoGZXIvYXdzEXAMPLE/session+token=="
STAMP = "20261122T123600Z"


def botocore_headers(method, url, headers, body, token=None, region="us-east-1", service="medical-imaging"):
    """The headers botocore's SigV4Auth adds to this request at STAMP, in the CLI's line format."""
    request = AWSRequest(method=method, url=url, data=body)
    for name, value in headers:
        request.headers[name] = value
    request.headers["X-Amz-Date"] = STAMP
    if token:
        request.headers["X-Amz-Security-Token"] = token
    request.context["timestamp"] = STAMP
    auth = SigV4Auth(Credentials(KEY, SECRET, token), service, region)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    signed = auth.signed_headers(auth.headers_to_sign(request))
    out = {"Authorization": f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, SignedHeaders={signed}, "
                            f"Signature={signature}",
           "X-Amz-Date": STAMP}
    if token:
        out["X-Amz-Security-Token"] = token
    return out


class TokenEndpoint:
    """A client_credentials token endpoint on loopback (RFC 6749 4.4 answer)."""

    def __init__(self):
        owner = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                owner.requests.append(body)
                answer = json.dumps({"access_token": "cli-bearer-token-7d1f", "token_type": "Bearer",
                                     "expires_in": 3600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/token"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class SignCommand(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gw-cli-sign-")
        cls.dir = Path(cls.tmp.name)
        cls.idp = TokenEndpoint()
        servers = {
            "aws": {"Url": "https://dicom-medical-imaging.us-east-1.amazonaws.com/datastore/ds1/",
                    "ProviderType": "aws", "Region": "us-east-1", "AccessKeyId": KEY, "SecretAccessKey": SECRET},
            "aws-session": {"Url": "http://127.0.0.1:8443/datastore/ds2/", "ProviderType": "aws",
                            "Region": "eu-west-1", "AccessKeyId": KEY, "SecretAccessKey": SECRET,
                            "SessionToken": SESSION},
            "oauth": {"Url": "https://dicom.example.test/v2/", "TokenEndpoint": cls.idp.url, "ClientId": "cli",
                      "ClientSecret": "cli-client-secret-1", "Scope": "dicom"},
            "routed": {"Url": "https://primary.example.test/dicom-web/", "Mode": "proxy",
                       "Targets": [{"Name": "primary", "Url": "https://primary.example.test/dicom-web/"},
                                   {"Name": "standby", "Url": "http://127.0.0.1:8042/standby/"}],
                       "TokenEndpoint": cls.idp.url, "ClientId": "cli", "ClientSecret": "cli-client-secret-1"},
            "static": {"Url": "https://dicom.example.test/v2/", "ProviderType": "static",
                       "Token": "static-bearer-token-3c9a"},
        }
        cls.config = cls.dir / "orthanc.json"
        cls.config.write_text(json.dumps({"DicomWebOAuth": {"Servers": servers,
                                                           "ScriptDirectories": [str(SOURCE / "lua")]}}))

    @classmethod
    def tearDownClass(cls):
        cls.idp.stop()
        cls.tmp.cleanup()

    def run_cli(self, *args):
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        return subprocess.run([CLI, "sign", "--config", str(self.config), *args], capture_output=True, text=True,
                              env=env, timeout=60)

    def lines(self, headers):
        return "".join(f"{k}: {v}\n" for k, v in headers.items())

    def assert_same_as_botocore(self, args, expected):
        r = self.run_cli(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Same header set; the CLI's order is not specified, each line byte-identical.
        self.assertEqual(sorted(r.stdout.splitlines(True)), sorted(self.lines(expected).splitlines(True)),
                         r.stdout)

    def test_qido_get_matches_botocore(self):
        url = ("https://dicom-medical-imaging.us-east-1.amazonaws.com/datastore/ds1/studies"
               "?limit=10&includefield=00100010%2C00100020&PatientName=Doe%5EJ%2A")
        expected = botocore_headers("GET", url, [("Accept", "application/dicom+json")], b"")
        self.assert_same_as_botocore(["--server", "aws", "--method", "GET", "--url", url,
                                      "--header", "Accept: application/dicom+json", "--time", STAMP,
                                      "--show-credentials"], expected)

    def test_stow_with_body_and_session_token_matches_botocore(self):
        body = b"--b0undary\r\nContent-Type: application/dicom\r\n\r\n" + bytes(range(256)) * 64 + b"\r\n--b0undary--\r\n"
        body_file = self.dir / "stow.bin"
        body_file.write_bytes(body)
        url = "http://127.0.0.1:8443/datastore/ds2/studies"
        headers = [("Accept", "application/dicom+json"),
                   ("Content-Type", 'multipart/related; type="application/dicom"; boundary=b0undary')]
        expected = botocore_headers("POST", url, headers, body, token=SESSION, region="eu-west-1")
        args = ["--server", "aws-session", "--method", "POST", "--url", url, "--body-file", str(body_file),
                "--time", STAMP, "--show-credentials"]
        for k, v in headers:
            args += ["--header", f"{k}: {v}"]
        self.assert_same_as_botocore(args, expected)
        # Another body gives another signature: the body file really is hashed.
        body_file.write_bytes(body + b"x")
        r = self.run_cli(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(sorted(r.stdout.splitlines(True)), sorted(self.lines(expected).splitlines(True)))

    def test_bearer_provider_acquires_and_prints_authorization(self):
        before = len(self.idp.requests)
        r = self.run_cli("--server", "oauth", "--method", "GET", "--url", "https://dicom.example.test/v2/studies",
                         "--show-credentials")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "Authorization: Bearer cli-bearer-token-7d1f\n")
        self.assertEqual(len(self.idp.requests), before + 1)  # a real acquisition
        self.assertIn("grant_type=client_credentials", self.idp.requests[-1])

    def test_static_token_provider(self):
        r = self.run_cli("--server", "static", "--method", "GET", "--url", "https://dicom.example.test/v2/studies",
                         "--show-credentials")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "Authorization: Bearer static-bearer-token-3c9a\n")

    def test_inject_mode_is_refused_for_a_signing_provider(self):
        config = self.dir / "inject.json"
        config.write_text(json.dumps({"DicomWebOAuth": {
            "ScriptDirectories": [str(SOURCE / "lua")],
            "Servers": {"aws": {"Url": "https://dicom-medical-imaging.us-east-1.amazonaws.com/datastore/x/",
                                "ProviderType": "aws", "Region": "us-east-1", "Mode": "inject",
                                "AccessKeyId": KEY, "SecretAccessKey": SECRET}}}}))
        r = subprocess.run([CLI, "sign", "--config", str(config), "--server", "aws", "--method", "GET", "--url",
                            "https://x.amazonaws.com/"], capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin"})
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("error CFG-002 DicomWebOAuth.Servers.aws.Mode", r.stderr)
        self.assertIn("needs Mode proxy", r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertNotIn(SECRET, r.stderr)

    def test_errors(self):
        r = self.run_cli("--server", "aws", "--method", "GET")
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: dicomweb-oauth sign", r.stderr)
        r = self.run_cli("--server", "nope", "--method", "GET", "--url", "https://x.test/")
        self.assertEqual(r.returncode, 1)
        self.assertIn("error TOK-006", r.stderr)
        inside = "https://dicom-medical-imaging.us-east-1.amazonaws.com/datastore/ds1/studies"
        r = self.run_cli("--server", "aws", "--method", "GET", "--url", inside, "--time", "yesterday")
        self.assertEqual(r.returncode, 1)
        self.assertIn("error SIG-001", r.stderr)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        r = self.run_cli("--server", "aws", "--method", "POST", "--url", inside,
                         "--body-file", str(self.dir / "missing.bin"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("error CLI-001", r.stderr)

        r = self.run_cli("--server", "aws", "--method", "GET", "--url", inside, "--show-credentials=yes")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option '--show-credentials=yes'", r.stderr)

    # ---- hardening: no live credential unless asked, and only for the server's own upstreams ----

    def test_sign_masks_credentials_unless_asked(self):
        r = self.run_cli("--server", "oauth", "--method", "GET", "--url", "https://dicom.example.test/v2/studies")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "Authorization: Bearer ***\n")
        self.assertIn("--show-credentials prints them", r.stderr)
        self.assertNotIn("cli-bearer-token-7d1f", r.stdout + r.stderr)
        r = self.run_cli("--server", "static", "--method", "GET", "--url", "https://dicom.example.test/v2/studies")
        self.assertEqual(r.stdout, "Authorization: Bearer ***\n")
        self.assertNotIn("static-bearer-token-3c9a", r.stdout + r.stderr)
        # SigV4: the date stays (no secret in it); the signature, key id and session token do not.
        r = self.run_cli("--server", "aws-session", "--method", "GET", "--url",
                         "http://127.0.0.1:8443/datastore/ds2/studies", "--time", STAMP)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(r.stdout.splitlines()),
                         ["Authorization: AWS4-HMAC-SHA256 ***", f"X-Amz-Date: {STAMP}", "X-Amz-Security-Token: ***"])
        for secret in (KEY, SECRET, SESSION, "Signature="):
            self.assertNotIn(secret, r.stdout + r.stderr)

    def test_sign_refuses_urls_outside_the_server_targets(self):
        refused = [
            ("oauth", "https://other.example.test/v2/studies"),          # another host
            ("oauth", "https://dicom.example.test:8443/v2/studies"),     # another port
            ("oauth", "http://dicom.example.test/v2/studies"),           # another scheme
            ("oauth", "https://dicom.example.test/v1/studies"),          # another path
            ("oauth", "https://dicom.example.test/v2x/studies"),         # a prefix is not a folder
            ("oauth", "https://dicom.example.test/v2/../admin"),         # dot segments leave the base
            ("oauth", "https://dicom.example.test/v2/studies/../../admin"),
            ("oauth", "https://dicom.example.test/v2/%2e%2e/admin"),     # encoded dots
            ("oauth", "https://dicom.example.test/v2/..%2Fadmin"),       # encoded slash
            ("oauth", "https://dicom.example.test.evil.test/v2/studies"),
            ("oauth", "https://user:pw@dicom.example.test/v2/studies"),  # userinfo
            ("oauth", "ftp://dicom.example.test/v2/studies"),
            ("oauth", "/v2/studies"),
            ("aws", "https://x.amazonaws.com/"),
            ("routed", "http://127.0.0.1:8042/other/studies"),
            ("routed", "https://standby.example.test/standby/studies"),
        ]
        before = len(self.idp.requests)
        for server, url in refused:
            with self.subTest(url=url):
                r = self.run_cli("--server", server, "--method", "GET", "--url", url, "--show-credentials")
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn("error CLI-002", r.stderr)
                self.assertEqual(r.stdout, "")
        self.assertEqual(len(self.idp.requests), before)  # refused before any acquisition
        accepted = [
            ("oauth", "https://dicom.example.test/v2"),                  # the base itself
            ("oauth", "https://DICOM.example.test:443/v2/studies?limit=1"),
            ("oauth", "https://dicom.example.test/v2/./studies/../studies"),
            ("routed", "https://primary.example.test/dicom-web/studies"),
            ("routed", "http://127.0.0.1:8042/standby/studies"),         # any target of the server
        ]
        for server, url in accepted:
            with self.subTest(url=url):
                r = self.run_cli("--server", server, "--method", "GET", "--url", url)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, "Authorization: Bearer ***\n")


if __name__ == "__main__":
    CLI, SOURCE = str(Path(sys.argv[1]).resolve()), Path(sys.argv[2]).resolve()
    unittest.main(argv=[sys.argv[0]], verbosity=2)
