"""Local stand-ins for Google's identity endpoints, following Google's documented protocols, and
checking what the gateway sends so that a wrong request fails the test.

    google = GoogleIdentity(ws)            # OAuth2 token endpoint, STS, IAM Credentials (one port)
    google.start()
    key_file = google.service_account("orthanc-gw")          # a service_account key file (JSON)
    wif_file = google.external_account("pool", subject_file, impersonate="orthanc-gw")
    metadata = google.metadata_host        # GCE_METADATA_HOST value of the metadata server
    google.valid(token)                    # an access token it issued and that has not expired
    google.events()                        # what was asked, with the outcome (no secrets)

Endpoints and what they check (Google's documentation of each protocol):
  POST /token   OAuth 2.0 for server-to-server applications: grant_type
                urn:ietf:params:oauth:grant-type:jwt-bearer, `assertion` a JWT with RS256 signature by
                the service account's key (header kid = private_key_id), iss = client_email, a
                non-empty space-delimited scope, aud = this token URL, iat not in the future, exp after
                now and at most one hour after iat. Errors 400 {"error": "invalid_grant", ...}.
  GET  http://<metadata_host>/computeMetadata/v1/instance/service-accounts/default/token
                needs Metadata-Flavor: Google; any request with X-Forwarded-For is refused (403), as
                Google's metadata server does; answers carry Metadata-Flavor: Google. Optional
                ?scopes=a,b is recorded.
  POST /v1/token  STS token exchange (RFC 8693): grant_type token-exchange, audience of a registered
                pool provider, requested_token_type access_token, a subject_token_type, a scope, and a
                subject token this pool trusts. 400 invalid_grant / invalid_request otherwise.
  POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken  IAM Credentials: Authorization
                Bearer <an STS token granted cloud-platform>, JSON {"scope": [...], "lifetime": "Ns"};
                answers {"accessToken", "expireTime" (RFC 3339)}; Google's error envelope otherwise.
  GET  /subject-token  a URL-sourced subject token (credential_source.url), JSON
                {"access_token": ...}, only with the header Metadata: True.

`fixed_token`: every access token issued has this value (so a ProtectedDicomWeb in static mode
accepts it). Thread-safe: the servers answer on their own threads.
"""
import base64
import datetime
import json
import secrets
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .errors import HarnessError
from .pki import Pki, openssl

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT_TOKEN_TYPES = ("urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token",
                       "urn:ietf:params:oauth:token-type:saml2", "urn:ietf:params:aws:token-type:aws4_request")
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"


def _b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _rfc3339(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet; events() has what tests need
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, content_type="application/json", headers=None):
        data = body if isinstance(body, bytes) else (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.server.owner._dispatch(self, "GET", self.server.role)

    def do_POST(self):
        self.server.owner._dispatch(self, "POST", self.server.role)


class GoogleIdentity:
    def __init__(self, ws, fixed_token=None, token_ttl=3600, name="google"):
        self.ws = ws
        self.name = ws.unique_name(name)
        self.dir = ws.dir(self.name)
        self.pki = Pki(ws, name=f"{self.name}-keys")
        self.fixed_token = fixed_token
        self.token_ttl = token_ttl
        self.port = ws.ports.allocate()
        self.metadata_port = ws.ports.allocate()
        self._lock = threading.Lock()
        self._accounts = {}      # email -> {"public": path, "kid": str}
        self._pools = {}         # audience -> set of trusted subject tokens
        self._issued = {}        # token -> {"expires": epoch, "scope": str, "kind": str}
        self._events = []
        self._servers = []
        self.metadata_enabled = True
        self.subject_token_for_url = None
        self.fail_next = []      # statuses to answer (once each) on the next token requests

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self):
        for port, role in ((self.port, "google"), (self.metadata_port, "metadata")):
            server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
            server.daemon_threads = True
            server.owner, server.role = self, role
            threading.Thread(target=server.serve_forever, name=f"{self.name}-{role}", daemon=True).start()
            self._servers.append(server)
        return self

    def terminate(self):
        pass

    def stop(self):
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []

    # -- configuration ---------------------------------------------------------------------------

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_uri(self):
        return self.url + "/token"

    @property
    def sts_url(self):
        return self.url + "/v1/token"

    @property
    def metadata_host(self):
        return f"127.0.0.1:{self.metadata_port}"

    def impersonation_url(self, email):
        return f"{self.url}/v1/projects/-/serviceAccounts/{email}:generateAccessToken"

    def email(self, account):
        return f"{account}@gw-test-project.iam.gserviceaccount.com"

    def service_account(self, account, token_uri=None, register=True):
        """Writes a service_account key file for `account` (a new RSA key) and returns its path.
        register=False: Google does not know the key (its signature is refused)."""
        keys = self.pki.key_pair(account)
        kid = secrets.token_hex(20)
        email = self.email(account)
        if register:
            with self._lock:
                self._accounts[email] = {"public": keys.public, "kid": kid}
        path = self.dir / f"{account}.json"
        path.write_text(json.dumps({
            "type": "service_account", "project_id": "gw-test-project", "private_key_id": kid,
            "private_key": Path(keys.private).read_text(), "client_email": email,
            "client_id": str(secrets.randbelow(10 ** 20)), "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri or self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs"}, indent=2))
        path.chmod(0o600)
        return path

    def private_key_lines(self, key_file):
        """Body lines of the key file's private key: none may appear in any output."""
        pem = json.loads(Path(key_file).read_text())["private_key"]
        return [line for line in pem.splitlines() if line and not line.startswith("-----")]

    def pool_audience(self, pool):
        return (f"//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/{pool}"
                f"/providers/{pool}-provider")

    def trust_subject(self, pool, subject_token):
        with self._lock:
            self._pools.setdefault(self.pool_audience(pool), set()).add(subject_token)

    def external_account(self, pool, subject_file=None, subject_url=None, impersonate=None, name=None):
        """Writes an external_account credential file for workload identity pool `pool` and returns
        its path. The subject token comes from `subject_file` (text) or `subject_url` (JSON field
        access_token, header Metadata: True); `impersonate` names a service account."""
        source = {"file": str(subject_file)} if subject_file else {
            "url": subject_url, "headers": {"Metadata": "True"},
            "format": {"type": "json", "subject_token_field_name": "access_token"}}
        creds = {"type": "external_account", "audience": self.pool_audience(pool),
                 "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": self.sts_url,
                 "credential_source": source}
        if impersonate:
            email = self.email(impersonate)
            with self._lock:
                self._accounts.setdefault(email, {"public": None, "kid": None})
            creds["service_account_impersonation_url"] = self.impersonation_url(email)
            creds["service_account_impersonation"] = {"token_lifetime_seconds": 3600}
        path = self.dir / f"{name or pool}-wif.json"
        path.write_text(json.dumps(creds, indent=2))
        return path

    # -- what happened ---------------------------------------------------------------------------

    def events(self, route=None):
        with self._lock:
            return [dict(e) for e in self._events if route is None or e["route"] == route]

    def issued_tokens(self):
        with self._lock:
            return list(self._issued)

    def valid(self, token):
        with self._lock:
            entry = self._issued.get(token)
            return entry is not None and entry["expires"] > time.time()

    # -- protocol --------------------------------------------------------------------------------

    def _record(self, route, status, **fields):
        with self._lock:
            self._events.append({"route": route, "status": status, "time": time.time(), **fields})

    def _issue(self, kind, scope, lifetime):
        token = self.fixed_token or "ya29." + secrets.token_urlsafe(48)
        with self._lock:
            self._issued[token] = {"expires": time.time() + lifetime, "scope": scope, "kind": kind}
        return token

    def _injected_failure(self):
        with self._lock:
            return self.fail_next.pop(0) if self.fail_next else None

    def _dispatch(self, h, method, role):
        path, _, query = h.path.partition("?")
        try:
            if role == "metadata":
                return self._metadata(h, method, path, query)
            if method == "POST" and path == "/token":
                return self._oauth2_token(h)
            if method == "POST" and path == "/v1/token":
                return self._sts(h)
            if method == "POST" and path.startswith("/v1/projects/-/serviceAccounts/") and \
                    path.endswith(":generateAccessToken"):
                return self._generate_access_token(h, urllib.parse.unquote(path[len("/v1/projects/-/serviceAccounts/"):-len(":generateAccessToken")]))
            if method == "GET" and path == "/subject-token":
                return self._subject_token(h)
            self._record(path, 404)
            return h._send(404, {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}})
        except Exception as err:  # a harness bug must show, not hang the client
            self._record(path, 500, error=repr(err))
            return h._send(500, {"error": "internal", "error_description": repr(err)})

    def _form(self, h, route):
        if h.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            self._record(route, 400, problem="content-type")
            h._send(400, {"error": "invalid_request", "error_description": "Invalid content type"})
            return None
        form = urllib.parse.parse_qs(h._body().decode(), keep_blank_values=True, strict_parsing=False)
        if any(len(v) != 1 for v in form.values()):
            self._record(route, 400, problem="repeated parameter")
            h._send(400, {"error": "invalid_request", "error_description": "Repeated parameter"})
            return None
        return {k: v[0] for k, v in form.items()}

    def _grant_error(self, h, route, error, description, status=400):
        self._record(route, status, error=error, problem=description)
        h._send(status, {"error": error, "error_description": description})

    def _verify_rs256(self, token, public_pem_path):
        head, payload, sig = token.split(".")
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "data").write_bytes(f"{head}.{payload}".encode())
            (tmp / "sig").write_bytes(_b64url_decode(sig))
            try:
                openssl("dgst", "-sha256", "-verify", public_pem_path, "-signature", tmp / "sig", tmp / "data")
                return True
            except HarnessError:
                return False

    def _oauth2_token(self, h):
        route = "/token"
        form = self._form(h, route)
        if form is None:
            return
        failure = self._injected_failure()
        if failure:
            self._record(route, failure, problem="injected")
            return h._send(failure, {"error": "internal_failure", "error_description": "Backend Error"})
        if form.get("grant_type") != JWT_BEARER:
            return self._grant_error(h, route, "unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
        if set(form) != {"grant_type", "assertion"}:
            return self._grant_error(h, route, "invalid_request", "unexpected parameters " + ",".join(sorted(set(form) - {"grant_type", "assertion"})))
        assertion = form["assertion"]
        try:
            header = json.loads(_b64url_decode(assertion.split(".")[0]))
            claims = json.loads(_b64url_decode(assertion.split(".")[1]))
        except (ValueError, IndexError):
            return self._grant_error(h, route, "invalid_grant", "Invalid JWT: could not be decoded")
        if header.get("alg") != "RS256":
            return self._grant_error(h, route, "invalid_grant", "Invalid JWT: alg must be RS256")
        with self._lock:
            account = self._accounts.get(claims.get("iss"))
        if account is None or account["public"] is None:
            return self._grant_error(h, route, "invalid_grant", "Invalid grant: account not found")
        if header.get("kid") is not None and header.get("kid") != account["kid"]:
            return self._grant_error(h, route, "invalid_grant", "Invalid JWT Signature.")
        if not self._verify_rs256(assertion, account["public"]):
            return self._grant_error(h, route, "invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or iat > now + 60 or exp <= now or exp - iat > 3600:
            return self._grant_error(h, route, "invalid_grant", "Invalid JWT: Token must be a short-lived token "
                                     "(60 minutes) and in a reasonable timeframe. Check your iat and exp values "
                                     "in the JWT claim.")
        if claims.get("aud") != self.token_uri:
            return self._grant_error(h, route, "invalid_grant", "Invalid JWT: aud is not the token URL")
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            return self._grant_error(h, route, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        lifetime = min(self.token_ttl, 3599)
        token = self._issue("service_account", scope, lifetime)
        self._record(route, 200, email=claims["iss"], scope=scope, kid=header.get("kid"))
        h._send(200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})

    def _metadata(self, h, method, path, query):
        route = "metadata"
        google = {"Metadata-Flavor": "Google", "Server": "Metadata Server for VM"}
        if not self.metadata_enabled:
            self._record(route, 503, problem="disabled")
            return h._send(503, "Service Unavailable", "text/plain", google)
        if h.headers.get("X-Forwarded-For") is not None:
            self._record(route, 403, problem="X-Forwarded-For")
            return h._send(403, "Forbidden: requests with X-Forwarded-For are not accepted", "text/html", google)
        if h.headers.get("Metadata-Flavor") != "Google":
            self._record(route, 403, problem="Metadata-Flavor")
            return h._send(403, "Missing required header: Metadata-Flavor", "text/html", google)
        if method != "GET" or path != METADATA_TOKEN_PATH:
            self._record(route, 404, path=path)
            return h._send(404, "Not Found", "text/html", google)
        params = urllib.parse.parse_qs(query)
        scopes = params.get("scopes", [""])[0]
        scope = " ".join(scopes.split(",")) if scopes else CLOUD_PLATFORM
        lifetime = min(self.token_ttl, 3599)
        token = self._issue("metadata", scope, lifetime)
        self._record(route, 200, scopes=scopes or None)
        h._send(200, {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}, headers=google)

    def _sts(self, h):
        route = "/v1/token"
        form = self._form(h, route)
        if form is None:
            return
        if form.get("grant_type") != TOKEN_EXCHANGE:
            return self._grant_error(h, route, "unsupported_grant_type", "Invalid grant_type")
        for required in ("audience", "subject_token", "subject_token_type", "requested_token_type", "scope"):
            if not form.get(required):
                return self._grant_error(h, route, "invalid_request", f"{required} is required")
        if form["requested_token_type"] != ACCESS_TOKEN_TYPE:
            return self._grant_error(h, route, "invalid_request", "Invalid requested_token_type")
        if form["subject_token_type"] not in SUBJECT_TOKEN_TYPES:
            return self._grant_error(h, route, "invalid_request", "Invalid subject_token_type")
        with self._lock:
            trusted = self._pools.get(form["audience"])
        if trusted is None:
            return self._grant_error(h, route, "invalid_target", "The target service indicated by the "
                                     "\"audience\" parameters is invalid.")
        if form["subject_token"] not in trusted:
            return self._grant_error(h, route, "invalid_grant", "The audience in ID Token does not match the "
                                     "expected audience.")
        lifetime = min(self.token_ttl, 3599)
        token = self._issue("sts", form["scope"], lifetime)
        self._record(route, 200, audience=form["audience"], scope=form["scope"])
        h._send(200, {"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "Bearer",
                      "expires_in": lifetime})

    def _google_error(self, h, route, status, state, message):
        self._record(route, status, problem=message)
        h._send(status, {"error": {"code": status, "message": message, "status": state}})

    def _generate_access_token(self, h, email):
        route = "generateAccessToken"
        auth = h.headers.get("Authorization", "")
        federated = auth[7:] if auth.startswith("Bearer ") else None
        body = h._body()
        with self._lock:
            entry = self._issued.get(federated) if federated else None
            known = email in self._accounts
        if entry is None or entry["expires"] <= time.time() or entry["kind"] != "sts":
            return self._google_error(h, route, 401, "UNAUTHENTICATED",
                                      "Request had invalid authentication credentials.")
        if CLOUD_PLATFORM not in entry["scope"].split():
            return self._google_error(h, route, 403, "PERMISSION_DENIED",
                                      "Request had insufficient authentication scopes.")
        if not known:
            return self._google_error(h, route, 404, "NOT_FOUND", f"Service account {email} not found")
        if h.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self._google_error(h, route, 400, "INVALID_ARGUMENT", "Invalid content type")
        try:
            request = json.loads(body)
        except ValueError:
            return self._google_error(h, route, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        scope = request.get("scope")
        if not isinstance(scope, list) or not scope or not all(isinstance(s, str) for s in scope):
            return self._google_error(h, route, 400, "INVALID_ARGUMENT", "scope must be a non-empty list")
        lifetime = 3600
        if "lifetime" in request:
            text = request["lifetime"]
            if not isinstance(text, str) or not text.endswith("s") or not text[:-1].isdigit() or \
                    not 0 < int(text[:-1]) <= 3600:
                return self._google_error(h, route, 400, "INVALID_ARGUMENT", "lifetime must be like \"3600s\"")
            lifetime = int(text[:-1])
        lifetime = min(lifetime, self.token_ttl)
        token = self._issue("impersonated", " ".join(scope), lifetime)
        self._record(route, 200, email=email, scope=" ".join(scope), lifetime=lifetime)
        h._send(200, {"accessToken": token, "expireTime": _rfc3339(int(time.time()) + lifetime)})

    def _subject_token(self, h):
        route = "/subject-token"
        if h.headers.get("Metadata") != "True" or self.subject_token_for_url is None:
            self._record(route, 400)
            return h._send(400, {"error": "bad_request"})
        self._record(route, 200)
        h._send(200, {"access_token": self.subject_token_for_url, "token_type": "Bearer", "expires_in": 3600})
