"""Local stand-ins for the Azure identity services, following Microsoft's documented protocols, each
checking what the gateway sends so that a wrong request fails the test.

    entra = FakeEntra(ws, pki)                       # https, Entra ID v2 token endpoint
    entra.add_secret_client("app", "s3cret")
    entra.add_certificate_client("app-cert", cert_pem_path)
    entra.add_federated_client("wi-app", issuer, subject, public_key_pem_path)
    imds = FakeImds(ws)                              # http, /metadata/identity/oauth2/token
    appsvc = FakeAppService(ws, header_secret)       # http, IDENTITY_ENDPOINT (2019-08-01)

Entra ID v2 (POST /{tenant}/oauth2/v2.0/token, form-encoded): grant_type client_credentials, a
`scope` ending in /.default, and one client authentication: client_secret; or a client assertion
(urn:ietf:params:oauth:client-assertion-type:jwt-bearer) that is either a certificate credential
(RS256, `x5t` header = base64url SHA-1 of the certificate's DER, signature by the certificate's key,
aud = this token endpoint, iss = sub = client_id, exp in the future and at most 10 minutes ahead)
or a federated credential (RS256 by the registered issuer's key, iss/sub as registered,
aud api://AzureADTokenExchange, not expired). Errors are Entra's JSON (error, error_description
with an AADSTS code, error_codes, timestamp, trace_id, correlation_id).

IMDS (GET, api-version=2018-02-01): header `Metadata: true` required (else 400 invalid_request
"Required metadata header not specified"), `resource` required, a user-assigned identity selected by
client_id, object_id or msi_res_id (unknown: 400 "Identity not found"); a request with
X-Forwarded-For is refused as IMDS does. The answer carries every number as a string (expires_in,
expires_on, not_before). fail_next(status, n[, client_id]) makes the next n answers (for that
identity) fail (404, 410, 429, 500...).

App Service / Container Apps (GET, api-version=2019-08-01): header X-IDENTITY-HEADER must equal the
IDENTITY_HEADER value, `resource` required, client_id / principal_id / mi_res_id; the answer has
expires_on as a string of Unix seconds and no expires_in.

Every service issues `token` (default: random) so that a ProtectedDicomWeb(auth="static") upstream
accepts what it issued. requests() lists what arrived (method, path, query, headers, form, status).
"""
import hashlib
import json
import secrets
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .jose import b64url, b64url_decode, sign
from .pki import openssl

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"


def _single(values):
    """parse_qs gives lists: a repeated parameter is a protocol error here."""
    out = {}
    for k, v in values.items():
        if len(v) != 1:
            raise ValueError(f"parameter {k} repeated")
        out[k] = v[0]
    return out


def verify_rs256(token, public_key_pem_path):
    """(header, claims) of a compact RS256 JWS whose signature verifies with the key; raises ValueError."""
    try:
        h, p, s = token.split(".")
        header = json.loads(b64url_decode(h))
        claims = json.loads(b64url_decode(p))
        signature = b64url_decode(s)
    except Exception as err:  # noqa: BLE001 - any decoding problem is a bad assertion
        raise ValueError(f"not a compact JWS: {err}") from err
    if header.get("alg") != "RS256":
        raise ValueError(f"alg {header.get('alg')!r}, expected RS256")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "data").write_bytes(f"{h}.{p}".encode())
        (tmp / "sig").write_bytes(signature)
        try:
            openssl("dgst", "-sha256", "-verify", public_key_pem_path, "-signature", tmp / "sig", tmp / "data")
        except Exception as err:  # noqa: BLE001
            raise ValueError("signature does not verify") from err
    return header, claims


def certificate_thumbprint(cert_pem_path):
    """base64url SHA-1 of the certificate's DER: the x5t header Entra matches."""
    der = openssl("x509", "-in", cert_pem_path, "-outform", "DER")
    return b64url(hashlib.sha1(der).digest())


class _Service:
    """A threaded HTTP(S) server on 127.0.0.1 with a request log. Not for use outside tests."""

    def __init__(self, ws, name, tls_cert=None):
        self.ws = ws
        self.name = ws.unique_name(name)
        self.port = ws.ports.allocate()
        self.tls_cert = tls_cert
        self.token = "azure-fake-token-" + secrets.token_hex(16)
        self.lifetime = 3600
        self._requests = []
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    @property
    def base_url(self):
        return f"{'https' if self.tls_cert else 'http'}://127.0.0.1:{self.port}"

    def start(self):
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                record = {"method": self.command, "path": url.path, "headers": dict(self.headers.items()),
                          "raw_query": url.query}
                try:
                    record["query"] = _single(parse_qs(url.query, keep_blank_values=True))
                    record["form"] = _single(parse_qs(body.decode("utf-8"), keep_blank_values=True)) \
                        if body else {}
                    status, answer, extra = service.handle(record)
                except ValueError as err:
                    status, answer, extra = 400, {"error": "invalid_request", "error_description": str(err)}, {}
                record["status"] = status
                with service._lock:
                    service._requests.append(record)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        if self.tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.tls_cert.cert), str(self.tls_cert.key))
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def terminate(self):
        if self._server is not None:
            self._server.shutdown()

    def stop(self):
        if self._server is not None:
            self._server.server_close()
            self._server = None

    def requests(self):
        with self._lock:
            return list(self._requests)

    def handle(self, record):  # pragma: no cover - overridden
        raise NotImplementedError


class FakeEntra(_Service):
    """Entra ID v2 token endpoint over https (certificate from the harness Pki)."""

    def __init__(self, ws, pki, name="entra"):
        super().__init__(ws, name, tls_cert=pki.server_cert(name=ws.unique_name("entra-tls")))
        self.ca_file = pki.ca_file
        self.secret_clients = {}
        self.cert_clients = {}
        self.federated = {}
        self.allowed_scopes = {"https://dicom.healthcareapis.azure.com/.default"}

    @property
    def authority(self):
        return self.base_url

    def token_url(self, tenant):
        return f"{self.base_url}/{tenant}/oauth2/v2.0/token"

    def add_secret_client(self, client_id, secret):
        self.secret_clients[client_id] = secret

    def add_certificate_client(self, client_id, cert_pem_path):
        public = Path(tempfile.mkdtemp(dir=self.ws.dir("entra-keys"))) / "pub.pem"
        public.write_bytes(openssl("x509", "-in", cert_pem_path, "-pubkey", "-noout"))
        self.cert_clients[client_id] = (certificate_thumbprint(cert_pem_path), public)

    def add_federated_client(self, client_id, issuer, subject, public_key_pem_path):
        self.federated[client_id] = (issuer, subject, public_key_pem_path)

    @staticmethod
    def _error(status, error, code, description):
        return status, {"error": error, "error_description": f"AADSTS{code}: {description}",
                        "error_codes": [code], "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                        "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())}, {}

    def handle(self, r):
        parts = r["path"].strip("/").split("/")
        if r["method"] != "POST" or len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            return 404, {"error": "not_found"}, {}
        tenant = parts[0]
        form = r["form"]
        if not r["headers"].get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return self._error(400, "invalid_request", 900144, "The request body must be form-encoded.")
        if form.get("grant_type") != "client_credentials":
            return self._error(400, "unsupported_grant_type", 70003, "grant_type must be client_credentials.")
        client_id = form.get("client_id", "")
        scope = form.get("scope", "")
        if "resource" in form or not scope.endswith("/.default"):
            return self._error(400, "invalid_scope", 1002012, "The provided value for scope is not valid. "
                                                             "Client credential flows must have a scope value with /.default.")
        if scope not in self.allowed_scopes:
            return self._error(400, "invalid_resource", 500011, "The resource principal was not found.")
        if "client_secret" in form:
            if self.secret_clients.get(client_id) != form["client_secret"]:
                return self._error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        elif form.get("client_assertion_type") == ASSERTION_TYPE and "client_assertion" in form:
            problem = self._check_assertion(client_id, form["client_assertion"], self.token_url(tenant))
            if problem:
                return self._error(401, "invalid_client", problem[0], problem[1])
        else:
            return self._error(401, "invalid_client", 7000218,
                               "The request body must contain client_assertion or client_secret.")
        r["authenticated"] = client_id
        return 200, {"token_type": "Bearer", "expires_in": self.lifetime, "ext_expires_in": self.lifetime,
                     "access_token": self.token}, {}

    def _check_assertion(self, client_id, assertion, endpoint):
        now = time.time()
        if client_id in self.cert_clients:
            thumbprint, public = self.cert_clients[client_id]
            try:
                header, claims = verify_rs256(assertion, public)
            except ValueError as err:
                return 700027, f"Client assertion failed signature validation ({err})."
            if header.get("x5t") != thumbprint:
                return 700027, "The certificate with identifier used to sign the client assertion is not registered."
            if claims.get("aud") != endpoint:
                return 700016, f"Invalid audience {claims.get('aud')!r}."
            if claims.get("iss") != client_id or claims.get("sub") != client_id:
                return 700021, "Client assertion iss and sub must be the client id."
            if not isinstance(claims.get("exp"), int) or claims["exp"] <= now or claims["exp"] > now + 600:
                return 700024, "Client assertion is not within its valid time range."
            if not claims.get("jti"):
                return 700021, "Client assertion has no jti."
            return None
        if client_id in self.federated:
            issuer, subject, public = self.federated[client_id]
            try:
                _, claims = verify_rs256(assertion, public)
            except ValueError as err:
                return 700211, f"No matching federated identity record found for presented assertion ({err})."
            if claims.get("iss") != issuer or claims.get("sub") != subject:
                return 70021, "No matching federated identity record found for presented assertion."
            aud = claims.get("aud")
            if FEDERATED_AUDIENCE not in (aud if isinstance(aud, list) else [aud]):
                return 700212, "No matching federated identity record found for presented assertion audience."
            if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
                return 700024, "Client assertion is not within its valid time range."
            return None
        return 700016, f"Application with identifier '{client_id}' was not found in the directory."


class FakeImds(_Service):
    """Azure Instance Metadata Service identity endpoint (plain http, as on 169.254.169.254)."""

    PATH = "/metadata/identity/oauth2/token"

    def __init__(self, ws, name="imds"):
        super().__init__(ws, name)
        self.resources = {"https://dicom.healthcareapis.azure.com"}
        self.system_assigned = True
        self.user_assigned = []  # dicts with client_id, object_id, msi_res_id
        self.resource_tokens = {}
        self._failures = {}  # client_id (None: any request) -> statuses to answer first

    @property
    def host(self):
        """What AZURE_POD_IDENTITY_AUTHORITY_HOST holds to point the SDK (and the gateway) here."""
        return self.base_url

    @property
    def endpoint(self):
        return self.base_url + self.PATH

    def token_for(self, resource):
        """The token issued for `resource`: `token` for the DICOM service, a distinct one for others."""
        resource = resource.rstrip("/")
        if resource == "https://dicom.healthcareapis.azure.com":
            return self.token
        return self.resource_tokens.setdefault(resource, "imds-" + secrets.token_hex(16))

    def add_user_assigned(self, client_id, object_id, msi_res_id):
        self.user_assigned.append({"client_id": client_id, "object_id": object_id, "msi_res_id": msi_res_id})

    def fail_next(self, status, count, client_id=None):
        """The next `count` requests (of the identity `client_id` when given) answer `status`."""
        with self._lock:
            self._failures.setdefault(client_id, []).extend([status] * count)

    def clear_failures(self, client_id=None):
        with self._lock:
            self._failures.pop(client_id, None)

    def handle(self, r):
        if r["method"] != "GET" or r["path"] != self.PATH:
            return 404, {"error": "not_found"}, {}
        headers = {k.lower(): v for k, v in r["headers"].items()}
        if "x-forwarded-for" in headers:
            return 400, {"error": "invalid_request", "error_description": "Request is forwarded"}, {}
        if headers.get("metadata") != "true":
            return 400, {"error": "invalid_request", "error_description": "Required metadata header not specified"}, {}
        q = r["query"]
        if q.get("api-version") != "2018-02-01":
            return 400, {"error": "invalid_request", "error_description": "Invalid API version"}, {}
        with self._lock:
            failure = None
            for key in (q.get("client_id"), None):
                queue = self._failures.get(key)
                if queue and (key is None or key == q.get("client_id")):
                    failure = queue.pop(0)
                    break
        if failure:
            return failure, {"error": "unavailable", "error_description": f"simulated {failure}"}, {}
        resource = q.get("resource")
        if not resource:
            return 400, {"error": "invalid_request", "error_description": "Required audience parameter not specified"}, {}
        if resource.rstrip("/") not in self.resources:
            return 400, {"error": "invalid_resource", "error_description": "AADSTS500011: The resource principal named "
                                                                           f"{resource} was not found"}, {}
        selectors = [k for k in ("client_id", "object_id", "msi_res_id") if k in q]
        if len(selectors) > 1:
            return 400, {"error": "invalid_request", "error_description": "Multiple identity selectors"}, {}
        if selectors:
            key = selectors[0]
            if not any(u[key] == q[key] for u in self.user_assigned):
                return 400, {"error": "invalid_request", "error_description": "Identity not found"}, {}
        elif not self.system_assigned:
            return 400, {"error": "invalid_request", "error_description": "Identity not found"}, {}
        r["identity"] = q[selectors[0]] if selectors else "system"
        now = int(time.time())
        return 200, {"access_token": self.token_for(resource), "refresh_token": "", "expires_in": str(self.lifetime),
                     "expires_on": str(now + self.lifetime), "not_before": str(now), "resource": resource,
                     "token_type": "Bearer"}, {}


class FakeAppService(_Service):
    """App Service / Container Apps managed identity endpoint (IDENTITY_ENDPOINT)."""

    PATH = "/msi/token"

    def __init__(self, ws, header_secret, name="appservice"):
        super().__init__(ws, name)
        self.header_secret = header_secret
        self.resources = {"https://dicom.healthcareapis.azure.com"}

    @property
    def endpoint(self):
        return self.base_url + self.PATH

    def handle(self, r):
        if r["method"] != "GET" or r["path"] != self.PATH:
            return 404, {"error": "not_found"}, {}
        headers = {k.lower(): v for k, v in r["headers"].items()}
        if headers.get("x-identity-header") != self.header_secret:
            return 401, {"statusCode": 401, "message": "Unauthorized request, please check the X-IDENTITY-HEADER"}, {}
        q = r["query"]
        if q.get("api-version") != "2019-08-01":
            return 400, {"error": {"code": "UnsupportedApiVersion", "message": "api-version must be 2019-08-01"}}, {}
        if q.get("resource", "").rstrip("/") not in self.resources:
            return 400, {"error": {"code": "InvalidResource", "message": "resource not found"}}, {}
        now = int(time.time())
        return 200, {"access_token": self.token, "expires_on": str(now + self.lifetime),
                     "resource": q["resource"], "token_type": "Bearer",
                     "client_id": q.get("client_id", "system-assigned")}, {}


class FakeKeyVault(_Service):
    """Key Vault secrets (GET /secrets/{name}[/{version}]?api-version=7.4, bearer token for
    https://vault.azure.net issued by `imds`). Plain http on loopback: the gateway admits it only with
    DICOMWEB_OAUTH_KEYVAULT_ALLOW_HTTP_LOOPBACK=1."""

    def __init__(self, ws, imds, name="keyvault"):
        super().__init__(ws, name)
        self.imds = imds
        self.secrets = {}  # name -> value (latest version)

    def secret_url(self, name):
        return f"{self.base_url}/secrets/{name}"

    def handle(self, r):
        parts = r["path"].strip("/").split("/")
        if r["method"] != "GET" or len(parts) not in (2, 3) or parts[0] != "secrets":
            return 404, {"error": {"code": "NotFound", "message": "not found"}}, {}
        if r["query"].get("api-version") != "7.4":
            return 400, {"error": {"code": "BadParameter", "message": "The specified version is not supported"}}, {}
        expected = "Bearer " + self.imds.token_for("https://vault.azure.net")
        if r["headers"].get("Authorization") != expected:
            return 401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}, \
                {"WWW-Authenticate": 'Bearer authorization="https://login.microsoftonline.com/common", '
                                     'resource="https://vault.azure.net"'}
        name = parts[1]
        if name not in self.secrets:
            return 404, {"error": {"code": "SecretNotFound",
                                   "message": f"A secret with (name/id) {name} was not found in this key vault."}}, {}
        version = parts[2] if len(parts) == 3 else "0" * 32
        return 200, {"value": self.secrets[name], "id": f"{self.base_url}/secrets/{name}/{version}",
                     "attributes": {"enabled": True}}, {}


def projected_token(key_path, issuer, subject, lifetime=3600):
    """A Kubernetes projected service-account token (RS256) for workload identity."""
    now = int(time.time())
    return sign({"aud": [FEDERATED_AUDIENCE], "iss": issuer, "sub": subject, "iat": now, "nbf": now,
                 "exp": now + lifetime, "kubernetes.io": {"namespace": "dicom", "serviceaccount": {"name": "orthanc"}}},
                "RS256", key=key_path, kid="k8s-sa-key")
