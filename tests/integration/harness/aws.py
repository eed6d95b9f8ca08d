"""A local stand-in for AWS: a HealthImaging-style DICOMweb endpoint that verifies SigV4, and the
credential sources the AWS SDKs use, each following AWS's documented protocol.

    cloud = FakeAws(ws, backend=orthanc_b).start()     # runs in a thread of the test process
    cloud.dicomweb_url("ds1")       # http://127.0.0.1:<port>/datastore/ds1/  (-> Orthanc B /dicom-web/)
    cloud.container_url             # AWS_CONTAINER_CREDENTIALS_FULL_URI, needs cloud.container_token
    cloud.imds_url                  # AWS_EC2_METADATA_SERVICE_ENDPOINT (IMDSv2 only)
    cloud.sts_url                   # AWS_ENDPOINT_URL_STS (AssumeRoleWithWebIdentity)
    cloud.static_key("AKIA...", "secret")              # keys an operator would configure
    cloud.issued, cloud.signed_requests, cloud.refusals

DICOMweb endpoint (/datastore/<id>/<DICOMweb path>): every request must carry a valid
`Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/medical-imaging/aws4_request,
SignedHeaders=..., Signature=...` and `X-Amz-Date`. The signature is recomputed with botocore's
SigV4Auth over the request exactly as received: method, path, the query decoded and re-encoded
(as AWS does), only the headers named in SignedHeaders with their received values, and the SHA-256
of the body bytes actually received. Also checked: the key is known and not expired, the session
token matches the key's, `host` and every x-amz-* header sent are signed, the date is within 5
minutes and matches the scope, region and service are the expected ones. Refusals are AWS-style
403 JSON errors (InvalidSignatureException, UnrecognizedClientException, ExpiredTokenException,
IncompleteSignatureException). Accepted requests are forwarded to Orthanc B's /dicom-web/.

Credential sources (each issues fresh keys with a configurable lifetime):
  GET  /v2/credentials/<id>                     container endpoint (ECS / EKS Pod Identity):
                                                Authorization must equal container_token
  PUT  /latest/api/token                        IMDSv2 session token; X-aws-ec2-metadata-token-ttl-seconds
                                                (1-21600) required; GET without token -> 401
  GET  /latest/meta-data/iam/security-credentials/[role]   with X-aws-ec2-metadata-token
  POST /sts/  Action=AssumeRoleWithWebIdentity  form API, Version 2011-06-15, XML answer; the
                                                WebIdentityToken must equal web_identity_token
"""
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import secrets
import threading
import time
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "medical-imaging"
ROLE_NAME = "orthanc-gateway-role"
ROLE_ARN = "arn:aws:iam::123456789012:role/orthanc-gateway"


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def botocore_authorization(method, url, headers, body, access_key, secret_key, session_token, region, timestamp,
                           service=SERVICE, params=None):
    """The Authorization value botocore's SigV4Auth computes for this request at `timestamp`
    (YYYYMMDDTHHMMSSZ). `headers`: (name, value) pairs, all of them signed (plus host from the URL
    when absent). Used by the fake and by tests as the reference signer."""
    request = AWSRequest(method=method, url=url, data=body, params=params or None)
    for name, value in headers:
        request.headers[name] = value  # appends: repeated headers stay repeated
    request.context["timestamp"] = timestamp
    auth = SigV4Auth(Credentials(access_key, secret_key, session_token), service, region)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    signed = auth.signed_headers(auth.headers_to_sign(request))
    return f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, SignedHeaders={signed}, Signature={signature}"


class FakeAws:
    """Not thread-safe to configure; the server threads only read the configuration."""

    def __init__(self, ws, backend, region="us-east-1", lifetime=3600, name="fake-aws"):
        self.ws = ws
        self.backend = backend
        self.region = region
        self.lifetime = {"container": lifetime, "imds": lifetime, "web-identity": lifetime}
        self.port = ws.ports.allocate()
        self.container_token = "container-auth-" + secrets.token_hex(12)
        self.web_identity_token = "eyJ.web-identity." + secrets.token_hex(12)
        self.log_path = ws.log_path(name)
        ws.add_log(self.log_path)
        self._lock = threading.Lock()
        self.keys = {}              # access key -> {"secret", "token", "expires", "source", "issued"}
        self.issued = []            # (source, access key, issued at, expires at)
        self.signed_requests = []   # (method, path, access key, signed headers) of accepted requests
        self.framing = []           # (method, path, "chunked" | "length:<n>" | "none") of accepted requests
        self.refusals = []          # (error type, message)
        self.source_requests = []   # (method, path, headers) of credential-source requests
        self.imds_tokens = {}       # token -> expiry
        self.sts_forms = []
        self.server = None
        self.thread = None

    # -- URLs ------------------------------------------------------------------------------------

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def dicomweb_url(self, datastore):
        return f"{self.base}/datastore/{datastore}/"

    @property
    def container_url(self):
        return f"{self.base}/v2/credentials/task-1"

    @property
    def imds_url(self):
        return self.base

    @property
    def sts_url(self):
        return f"{self.base}/sts/"

    # -- credentials -----------------------------------------------------------------------------

    def static_key(self, access_key, secret_key, session_token=None):
        with self._lock:
            self.keys[access_key] = {"secret": secret_key, "token": session_token, "expires": None,
                                     "source": "static", "issued": time.time()}

    def _issue(self, source):
        now = time.time()
        key = "ASIA" + secrets.token_hex(8).upper()
        entry = {"secret": secrets.token_urlsafe(30), "token": "session-" + secrets.token_urlsafe(40),
                 "expires": now + self.lifetime[source], "source": source, "issued": now}
        with self._lock:
            self.keys[key] = entry
            self.issued.append((source, key, now, entry["expires"]))
        self._log(f"issued {source} credentials {key} for {self.lifetime[source]} s")
        return key, entry

    def issued_by(self, source):
        with self._lock:
            return [i for i in self.issued if i[0] == source]

    def secrets(self):
        """Every secret value the fake handed out (for assert_no_secret)."""
        with self._lock:
            out = [self.container_token, self.web_identity_token] + list(self.imds_tokens)
            for entry in self.keys.values():
                out += [entry["secret"], entry["token"]]
            return [s for s in out if s]

    def _log(self, line):
        with open(self.log_path, "a") as f:
            f.write(time.strftime("%H:%M:%S ") + line + "\n")

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                owner._dispatch(self)

            do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, fmt, *args):
                owner._log("http " + (fmt % args))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def terminate(self):
        self.stop()

    # -- HTTP ------------------------------------------------------------------------------------

    @staticmethod
    def _read_body(h):
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += h.rfile.read(size)
                h.rfile.readline()
        length = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(length) if length else b""

    @staticmethod
    def _answer(h, status, body=b"", content_type="application/json", headers=()):
        if isinstance(body, str):
            body = body.encode()
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _aws_error(self, h, status, kind, message):
        with self._lock:
            self.refusals.append((kind, message))
        self._log(f"refused {h.command} {h.path.split('?')[0]}: {kind}: {message}")
        self._answer(h, status, json.dumps({"__type": kind, "message": message}),
                     headers=[("x-amzn-ErrorType", kind)])

    def _dispatch(self, h):
        body = self._read_body(h)
        path = urllib.parse.urlsplit(h.path).path
        try:
            if path.startswith("/datastore/"):
                return self._dicomweb(h, body)
            with self._lock:
                self.source_requests.append((h.command, path, dict(h.headers.items())))
            if path.startswith("/v2/credentials/"):
                return self._container(h)
            if path.startswith("/latest/"):
                return self._imds(h, path)
            if path == "/sts/":
                return self._sts(h, body)
            self._answer(h, 404, b"{}")
        except Exception as e:  # a bug of the fake must show as a failure, not a hang
            self._log(f"internal error: {e!r}")
            self._answer(h, 500, json.dumps({"__type": "InternalServerException", "message": repr(e)}))

    # -- credential sources ----------------------------------------------------------------------

    def _credentials_json(self, key, entry, extra=None):
        out = {"AccessKeyId": key, "SecretAccessKey": entry["secret"], "Token": entry["token"],
               "Expiration": iso(entry["expires"])}
        out.update(extra or {})
        return json.dumps(out)

    def _container(self, h):
        if h.command != "GET":
            return self._answer(h, 405, b"{}")
        if h.headers.get("Authorization") != self.container_token:
            return self._answer(h, 401, json.dumps({"message": "invalid authorization token"}))
        key, entry = self._issue("container")
        self._answer(h, 200, self._credentials_json(key, entry, {"RoleArn": ROLE_ARN}))

    def _imds(self, h, path):
        if path == "/latest/api/token":
            if h.command != "PUT":
                return self._answer(h, 405, b"", "text/plain")
            ttl = h.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self._answer(h, 400, b"", "text/plain")
            token = "imds-" + secrets.token_urlsafe(24)
            with self._lock:
                self.imds_tokens[token] = time.time() + int(ttl)
            return self._answer(h, 200, token, "text/plain",
                                headers=[("X-aws-ec2-metadata-token-ttl-seconds", ttl)])
        token = h.headers.get("X-aws-ec2-metadata-token")
        with self._lock:
            valid = token is not None and self.imds_tokens.get(token, 0) > time.time()
        if not valid:  # IMDSv2 only: no session token, no metadata
            return self._answer(h, 401, b"", "text/plain")
        if path == "/latest/meta-data/iam/security-credentials/":
            return self._answer(h, 200, ROLE_NAME, "text/plain")
        if path == "/latest/meta-data/iam/security-credentials/" + ROLE_NAME:
            key, entry = self._issue("imds")
            return self._answer(h, 200, self._credentials_json(
                key, entry, {"Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC"}), "text/plain")
        self._answer(h, 404, b"", "text/plain")

    def _sts_error(self, h, status, code, message):
        body = (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>")
        self._answer(h, status, body, "text/xml")

    def _sts(self, h, body):
        if h.command == "POST":
            form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        else:
            form = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(h.path).query, keep_blank_values=True))
        with self._lock:
            self.sts_forms.append(form)
        if form.get("Action") != "AssumeRoleWithWebIdentity" or form.get("Version") != "2011-06-15":
            return self._sts_error(h, 400, "InvalidAction", "unknown action or version")
        for field in ("RoleArn", "RoleSessionName", "WebIdentityToken"):
            if not form.get(field):
                return self._sts_error(h, 400, "MissingParameter", f"{field} is required")
        if form["WebIdentityToken"] != self.web_identity_token:
            return self._sts_error(h, 400, "InvalidIdentityToken", "the web identity token is not valid")
        key, entry = self._issue("web-identity")
        xml = ('<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
               "<AssumeRoleWithWebIdentityResult>"
               f"<SubjectFromWebIdentityToken>system:serviceaccount:orthanc:gateway</SubjectFromWebIdentityToken>"
               f"<AssumedRoleUser><Arn>{ROLE_ARN}/{form['RoleSessionName']}</Arn>"
               "<AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser>"
               f"<Credentials><SessionToken>{entry['token']}</SessionToken>"
               f"<SecretAccessKey>{entry['secret']}</SecretAccessKey>"
               f"<Expiration>{iso(entry['expires'])}</Expiration><AccessKeyId>{key}</AccessKeyId></Credentials>"
               "<Audience>sts.amazonaws.com</Audience></AssumeRoleWithWebIdentityResult>"
               "<ResponseMetadata><RequestId>2</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>")
        self._answer(h, 200, xml, "text/xml")

    # -- the DICOMweb endpoint -------------------------------------------------------------------

    def _verify(self, h, body):
        """None when the request is correctly signed, else (status, error type, message)."""
        authorization = h.headers.get("Authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return 403, "IncompleteSignatureException", "Authorization header missing or not AWS4-HMAC-SHA256"
        fields = {}
        for part in authorization[len("AWS4-HMAC-SHA256 "):].split(","):
            name, _, value = part.strip().partition("=")
            fields[name] = value
        if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
            return 403, "IncompleteSignatureException", "Authorization lacks Credential, SignedHeaders or Signature"
        scope = fields["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            return 403, "IncompleteSignatureException", "malformed credential scope"
        key, date, region, service = scope[:4]
        with self._lock:
            entry = dict(self.keys[key]) if key in self.keys else None
        if entry is None:
            return 403, "UnrecognizedClientException", "The security token included in the request is invalid"
        if entry["expires"] is not None and entry["expires"] <= time.time():
            return 403, "ExpiredTokenException", "The security token included in the request is expired"
        if region != self.region or service != SERVICE:
            return 403, "InvalidSignatureException", f"credential scope {region}/{service} is not {self.region}/{SERVICE}"
        amz_date = h.headers.get("X-Amz-Date", "")
        try:
            signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return 403, "IncompleteSignatureException", "X-Amz-Date missing or malformed"
        if abs(signed_at.timestamp() - time.time()) > 300 or amz_date[:8] != date:
            return 403, "InvalidSignatureException", "Signature expired or date does not match the scope"
        if entry["token"] is not None and h.headers.get("X-Amz-Security-Token") != entry["token"]:
            return 403, "UnrecognizedClientException", "The security token included in the request is invalid"
        signed_names = fields["SignedHeaders"].split(";")
        if signed_names != sorted(signed_names) or "host" not in signed_names:
            return 403, "InvalidSignatureException", "SignedHeaders must be sorted and include host"
        sent = [k.lower() for k in h.headers.keys()]
        for name in sent:
            if name.startswith("x-amz-") and name not in signed_names:
                return 403, "InvalidSignatureException", f"{name} is sent but not signed"
        headers = []
        for name in signed_names:
            values = h.headers.get_all(name)
            if not values:
                return 403, "InvalidSignatureException", f"signed header {name} is missing"
            headers += [(name, v) for v in values]
        parts = urllib.parse.urlsplit(h.path)
        # AWS decodes the query and encodes every name and value again for the canonical form.
        params = []
        for item in parts.query.split("&") if parts.query else []:
            name, _, value = item.partition("=")
            params.append((urllib.parse.unquote(name), urllib.parse.unquote(value)))
        expected = botocore_authorization(h.command, f"http://{h.headers['Host']}{parts.path}", headers, body,
                                          key, entry["secret"], entry["token"], region, amz_date, params=params)
        if not hmac.compare_digest(expected.encode(), authorization.encode()):
            return 403, "InvalidSignatureException", (
                "The request signature we calculated does not match the signature you provided")
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            framing = "chunked"
        elif h.headers.get("Content-Length") is not None:
            framing = f"length:{h.headers['Content-Length']}"
        else:
            framing = "none"
        with self._lock:
            self.signed_requests.append((h.command, parts.path, key, fields["SignedHeaders"]))
            self.framing.append((h.command, parts.path, framing))
        return None

    def _dicomweb(self, h, body):
        problem = self._verify(h, body)
        if problem is not None:
            return self._aws_error(h, *problem)
        parts = urllib.parse.urlsplit(h.path)
        tail = parts.path.split("/", 3)[3] if parts.path.count("/") >= 3 else ""
        # AWS decodes the query; Orthanc B does not (Orthanc 1.10 matches `Modality=%2A` literally),
        # so it gets the decoded values with only what would break the URL escaped.
        query = "&".join(urllib.parse.quote(urllib.parse.unquote(k), safe="*^,:.-_~") + "=" +
                         urllib.parse.quote(urllib.parse.unquote(v), safe="*^,:.-_~")
                         for k, _, v in (item.partition("=") for item in parts.query.split("&") if item))
        target = "/dicom-web/" + tail + (("?" + query) if query else "")
        headers = {k: v for k, v in h.headers.items() if k.lower() in ("accept", "content-type")}
        conn = http.client.HTTPConnection("127.0.0.1", self.backend.http_port, timeout=300)
        try:
            conn.request(h.command, target, body=body or None, headers=headers)
            r = conn.getresponse()
            data = r.read()
            self._answer(h, r.status, data, r.getheader("Content-Type", "application/octet-stream"))
        finally:
            conn.close()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()
