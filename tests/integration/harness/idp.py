"""The identity provider: tests/fixtures/idp/idp.js (oidc-provider) plus, with tls=True, nginx HTTPS.

    idp = IdentityProvider(ws, clients=[IdpClient("svc", "client_secret_basic")], tls=True)
    idp.start()
    token = idp.issue_token("svc", scope="dicomweb")
    assert idp.token_requests("svc") == 1
    idp.restart()          # same keys, clients, issued tokens and counters

Clients: every RFC 6749/7523/8705 authentication method (client_secret_post, client_secret_basic,
client_secret_jwt, private_key_jwt, tls_client_auth, self_signed_tls_client_auth). Secrets, keys and
certificates a client needs are generated unless given. Resources (audiences) decide the token format
(opaque or JWT signed by the IdP's key) and lifetime; a client may override both.

Ports: `port` plain HTTP (what tests and the upstream's introspection use), `admin_port` (counters,
revocation, faults; not part of the OAuth surface), and with tls=True `tls_port` (nginx, HTTPS,
optional client certificate) forwarding to `proxied_port`, the only port on which the IdP trusts the
forwarded client certificate.
"""
import json
import secrets
import signal
import sys
import ssl
import time
from dataclasses import dataclass, field
from typing import List, Optional
from urllib.parse import quote_plus

from . import env, jose
from .errors import HarnessError
from .http import basic_auth, request, try_request
from .nginx import Nginx, quote
from .pki import CertPair, KeyPair, Pki
from .process import wait_until

SECRET_METHODS = ("client_secret_post", "client_secret_basic", "client_secret_jwt")
AUTH_METHODS = SECRET_METHODS + ("private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth")

DEFAULT_RESOURCE = "urn:gw-test:dicomweb"
DEFAULT_SCOPES = ("dicomweb", "dicomweb.read", "dicomweb.write")


@dataclass
class IdpResource:
    """An API the IdP issues tokens for (RFC 8707 resource indicator / audience)."""
    id: str = DEFAULT_RESOURCE
    scopes: List[str] = field(default_factory=lambda: list(DEFAULT_SCOPES))
    audience: Optional[str] = None      # `aud` of issued tokens; default: id
    format: str = "opaque"              # "opaque" or "jwt"
    ttl: Optional[int] = None           # seconds; default: the IdP's access_token_ttl
    jwt_alg: str = "RS256"              # RS256 or ES256 (the IdP holds one key of each)

    def to_config(self):
        return {"id": self.id, "scopes": self.scopes, "audience": self.audience, "format": self.format,
                "ttl": self.ttl, "jwt_alg": self.jwt_alg}


@dataclass
class IdpClient:
    """An OAuth client registered at the IdP. Missing secrets/keys/certs are generated at start."""
    client_id: str
    auth_method: str = "client_secret_post"
    secret: Optional[str] = None                # client_secret_post/basic/jwt
    key: Optional[KeyPair] = None               # private_key_jwt
    key_kind: str = "rsa"                       # private_key_jwt key type when generated: rsa or ec
    signing_alg: Optional[str] = None           # pin the assertion alg (RS256, PS256, ES256, HS256)
    cert: Optional[CertPair] = None             # tls_client_auth / self_signed_tls_client_auth
    scopes: Optional[List[str]] = None          # allowed scopes (default: the resource's)
    resources: Optional[List[str]] = None       # allowed resources (default: all)
    default_resource: Optional[str] = None
    token_format: Optional[str] = None          # override the resource's format
    access_token_ttl: Optional[int] = None      # override the resource's ttl (seconds)
    certificate_bound: bool = False             # RFC 8705 certificate-bound access tokens

    def __post_init__(self):
        if self.auth_method not in AUTH_METHODS:
            raise HarnessError("HAR-301", f"unknown auth method {self.auth_method!r}; one of {AUTH_METHODS}")

    @property
    def uses_certificate(self):
        return self.auth_method in ("tls_client_auth", "self_signed_tls_client_auth") or self.certificate_bound

    def assertion_alg(self):
        if self.signing_alg:
            return self.signing_alg
        if self.auth_method == "client_secret_jwt":
            return "HS256"
        return "ES256" if self.key and self.key.kind == "ec" else "RS256"


class IdentityProvider:
    """The IdP fixture. start/stop/restart keep keys, clients, tokens and counters. Not thread-safe."""

    INTROSPECTOR_ID = "gw-test-introspector"

    def __init__(self, ws, clients=(), resources=None, access_token_ttl=300, tls=False, pki=None,
                 name="idp"):
        self.ws = ws
        self.dir = ws.dir(name)
        self.name = self.dir.name
        self.state_dir = self.dir / "state"
        self.resources = list(resources) if resources is not None else [IdpResource()]
        if not self.resources:
            raise HarnessError("HAR-309", "the IdP needs at least one resource (tokens are issued for one)")
        self.access_token_ttl = access_token_ttl
        self.tls = tls
        self._pki = pki
        self.port = ws.ports.allocate()
        self.admin_port = ws.ports.allocate()
        self.tls_port = ws.ports.allocate() if tls else None
        self.proxied_port = ws.ports.allocate() if tls else None
        self.clients = {}
        self.introspector = IdpClient(self.INTROSPECTOR_ID, "client_secret_basic")
        for c in [*clients, self.introspector]:
            self.add_client(c)
        self.process = None
        self.nginx = None
        self._configured = False

    # -- configuration ---------------------------------------------------------------------------

    @property
    def pki(self):
        """The CA used for the HTTPS server certificate and client certificates (created on demand)."""
        if self._pki is None:
            self._pki = Pki(self.ws, name=f"{self.name}-pki")
        return self._pki

    def add_client(self, client):
        """Register a client (before start, or call restart() afterwards). Fills in generated credentials."""
        if client.client_id in self.clients:
            raise HarnessError("HAR-302", f"duplicate client_id {client.client_id!r}")
        if client.auth_method in SECRET_METHODS and client.secret is None:
            client.secret = "s3cr3t-" + secrets.token_urlsafe(32)
        if client.auth_method == "private_key_jwt" and client.key is None:
            client.key = self.pki.key_pair(f"{client.client_id}-jwt", client.key_kind)
        if client.auth_method == "tls_client_auth" and client.cert is None:
            client.cert = self.pki.client_cert(client.client_id)
        if client.auth_method == "self_signed_tls_client_auth" and client.cert is None:
            client.cert = self.pki.self_signed_cert(client.client_id)
        if client.certificate_bound and client.cert is None:
            client.cert = self.pki.client_cert(client.client_id)
        self.clients[client.client_id] = client
        self._configured = False
        return client

    def client(self, client):
        """The IdpClient for an id (or the object itself)."""
        if isinstance(client, IdpClient):
            return client
        try:
            return self.clients[client]
        except KeyError:
            raise HarnessError("HAR-303", f"no client {client!r} at this IdP") from None

    def _client_config(self, c):
        cfg = {"client_id": c.client_id, "auth_method": c.auth_method, "client_secret": c.secret,
               "scopes": c.scopes, "resources": c.resources, "default_resource": c.default_resource,
               "token_format": c.token_format, "access_token_ttl": c.access_token_ttl,
               "certificate_bound": c.certificate_bound, "signing_alg": c.signing_alg}
        if c.auth_method == "private_key_jwt":
            cfg["public_keys"] = [{"pem": c.key.public_pem(), "kid": f"{c.client_id}-key"}]
        if c.auth_method == "tls_client_auth":
            cfg["tls_client_auth_subject_dn"] = c.cert.subject
        if c.auth_method == "self_signed_tls_client_auth":
            cfg["certificates_pem"] = [c.cert.cert_pem()]
        return {k: v for k, v in cfg.items() if v is not None}

    def _write_config(self):
        cfg = {
            "issuer": self.issuer,
            "host": "127.0.0.1",
            "port": self.port,
            "admin_port": self.admin_port,
            "proxied_port": self.proxied_port,
            "state_dir": str(self.state_dir),
            "access_token_ttl": self.access_token_ttl,
            "resources": [r.to_config() for r in self.resources],
            "clients": [self._client_config(c) for c in self.clients.values()],
        }
        if self.tls:
            cfg["mtls_ca_file"] = str(self.pki.ca_file)
        path = self.dir / "idp-config.json"
        path.write_text(json.dumps(cfg, indent=2))
        path.chmod(0o600)
        return path

    def _nginx_servers(self, server_cert):
        return f"""
  server {{
    listen 127.0.0.1:{self.tls_port} ssl;
    set $gw_auth "-";
    ssl_certificate {server_cert.cert};
    ssl_certificate_key {server_cert.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client optional_no_ca;
    location / {{
      proxy_pass http://127.0.0.1:{self.proxied_port};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
      proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
    }}
  }}
"""

    def _prepare(self):
        if self._configured:
            return
        config_path = self._write_config()
        env.require_node_modules()
        node_env = {"PATH": "/usr/bin:/bin", "GW_NODE_MODULES": str(env.node_modules()),
                    "NODE_ENV": "test"}
        argv = [env.node_bin(), "--report-on-signal", "--report-signal=SIGUSR2",
                f"--report-directory={self.dir}", env.IDP_FIXTURE_DIR / "idp.js", config_path]
        self.process = self.ws.spawn(self.name, argv, env=node_env)
        if self.tls and self.nginx is None:
            server_cert = self.pki.server_cert(f"{self.name}-server")
            self.nginx = Nginx(self.ws, f"{self.name}-tls", self._nginx_servers(server_cert),
                               ports=[self.tls_port])
        self._configured = True

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout=60.0, attempts=2):
        """Start node and wait until the IdP answers. A start that hangs (seen about once in 400 CI
        starts on the loaded 2-vCPU machine: node never got as far as writing its signing keys, nor
        answered the report signal) is stopped and tried once more, with 45 s for the first try."""
        self._prepare()

        def ready():
            if self.process.poll() is not None:
                raise HarnessError("HAR-304", f"the IdP exited with code {self.process.returncode}: "
                                              f"{self.process.log_text()[-2000:]}")
            r = try_request("GET", f"{self.admin_url}/__admin/health", timeout=2)
            d = try_request("GET", self.discovery_url, timeout=2) if r and r.status == 200 else None
            return d is not None and d.status == 200

        for attempt in range(1, attempts + 1):
            self.process.start()
            try:
                wait_until(ready, timeout * 0.75 if attempt < attempts else timeout,
                           f"IdP {self.name} to answer")
                break
            except HarnessError as err:
                if self.process.running:
                    # Ask node for a diagnostic report (JS + native stacks) before stopping it.
                    self.process.signal(signal.SIGUSR2)
                    time.sleep(1.0)
                    self.process.stop()
                if attempt == attempts or err.code != "HAR-101":
                    raise
                sys.stderr.write(f"HAR-305: IdP {self.name} did not answer (attempt {attempt}); starting it again\n")
        if self.nginx is not None:
            self.nginx.start()
        return self

    def stop(self):
        """Stop the IdP (and its HTTPS front): token requests then fail with connection refused."""
        if self.nginx is not None and self.nginx.running:
            self.nginx.stop()
        return self.process.stop() if self.process else None

    def terminate(self):
        """Begin stopping without waiting (see process.stop_together)."""
        if self.nginx is not None:
            self.nginx.terminate()
        if self.process is not None:
            self.process.terminate()

    def restart(self, timeout=60.0):
        """Stop and start again on the same ports, with the same keys, clients, tokens and counters."""
        self.stop()
        return self.start(timeout)

    @property
    def running(self):
        return self.process is not None and self.process.running

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log_text(self):
        return self.process.log_text() if self.process else ""

    # -- URLs ------------------------------------------------------------------------------------

    @property
    def url(self):
        """Plain HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_url(self):
        if not self.tls:
            raise HarnessError("HAR-305", "this IdP was created without tls=True")
        return f"https://127.0.0.1:{self.tls_port}"

    @property
    def issuer(self):
        return self.tls_url if self.tls else self.url

    @property
    def admin_url(self):
        return f"http://127.0.0.1:{self.admin_port}"

    def base_url(self, tls=False):
        return self.tls_url if tls else self.url

    def token_url(self, tls=False):
        return self.base_url(tls) + "/token"

    def introspection_url(self, tls=False):
        return self.base_url(tls) + "/token/introspection"

    def revocation_url(self, tls=False):
        return self.base_url(tls) + "/token/revocation"

    def jwks_url(self, tls=False):
        return self.base_url(tls) + "/jwks"

    @property
    def discovery_url(self):
        return self.url + "/.well-known/openid-configuration"

    # -- TLS -------------------------------------------------------------------------------------

    def ssl_context(self, client=None, verify=True):
        """Client-side TLS context trusting this IdP's CA; with `client`'s certificate if it has one."""
        if verify:
            ctx = ssl.create_default_context(cafile=str(self.pki.ca_file))
        else:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if client is not None:
            c = self.client(client)
            if c.cert is not None:
                ctx.load_cert_chain(str(c.cert.cert), str(c.cert.key))
        return ctx

    # -- OAuth calls (what a well-behaved client sends) ----------------------------------------------

    def request_token(self, client, scope=None, resource=None, audience=None, tls=None, secret=None,
                      send_certificate=True, extra=None, timeout=30.0):
        """POST a client_credentials request authenticated the way `client` is registered.

        tls: default True for certificate-based clients, else False. secret: override the client's
        secret (to provoke invalid_client). Returns the HttpResponse (any status).
        """
        c = self.client(client)
        if tls is None:
            tls = c.uses_certificate
        form = {"grant_type": "client_credentials"}
        if scope is not None:
            form["scope"] = scope
        if resource is not None:
            form["resource"] = resource
        if audience is not None:
            form["audience"] = audience
        headers = {}
        used_secret = c.secret if secret is None else secret
        if c.auth_method == "client_secret_basic":
            headers["Authorization"] = basic_auth(_form_escape(c.client_id), _form_escape(used_secret))
        elif c.auth_method == "client_secret_post":
            form.update(client_id=c.client_id, client_secret=used_secret)
        elif c.auth_method in ("client_secret_jwt", "private_key_jwt"):
            alg = c.assertion_alg()
            form.update(
                client_id=c.client_id,
                client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                client_assertion=jose.client_assertion(
                    c.client_id, self.token_url(tls), alg,
                    key=c.key.private if c.key else None, secret=used_secret,
                    kid=f"{c.client_id}-key" if c.auth_method == "private_key_jwt" else None))
        else:
            form["client_id"] = c.client_id
        if extra:
            form.update(extra)
        ctx = self.ssl_context(c if send_certificate else None) if tls else None
        return request("POST", self.token_url(tls), form=form, headers=headers, ssl_context=ctx,
                       timeout=timeout)

    def issue_token(self, client, **kwargs):
        """Access token string for `client` (asserts HTTP 200); kwargs as for request_token()."""
        r = self.request_token(client, **kwargs)
        if r.status != 200:
            raise HarnessError("HAR-306", f"token request for {self.client(client).client_id} failed: "
                                          f"{r.status} {r.text}")
        return r.json()["access_token"]

    def introspect(self, token):
        """RFC 7662 introspection as the upstream resource server does it; returns the JSON answer."""
        r = request("POST", self.introspection_url(), form={"token": token},
                    headers={"Authorization": basic_auth(self.introspector.client_id, self.introspector.secret)})
        if r.status != 200:
            raise HarnessError("HAR-307", f"introspection failed: {r.status} {r.text}")
        return r.json()

    def jwks(self):
        return request("GET", self.jwks_url()).json()

    def discovery(self):
        return request("GET", self.discovery_url).json()

    # -- admin (not OAuth) ------------------------------------------------------------------------

    def _admin(self, method, path, body=None):
        r = request(method, f"{self.admin_url}/__admin/{path}", json=body)
        if r.status != 200:
            raise HarnessError("HAR-308", f"IdP admin {method} {path}: {r.status} {r.text}")
        return r.json()

    def stats(self):
        """Counters: {"token": {client_id: {requests, issued, failed, faulted, errors}},
        "introspection": {requests, active, inactive}, "routes": {path: n}, "revocations", "starts"}."""
        return self._admin("GET", "stats")

    def token_requests(self, client):
        """Number of token endpoint requests made as `client` (any outcome) since the last reset."""
        cid = client.client_id if isinstance(client, IdpClient) else client
        return self.stats()["token"].get(cid, {}).get("requests", 0)

    def reset_stats(self):
        return self._admin("POST", "reset-stats")

    def events(self):
        """The last requests seen (token and introspection), without secrets."""
        return self._admin("GET", "events")

    def revoke(self, token):
        """Revoke an access token (opaque or JWT); True if the IdP knew it."""
        return self._admin("POST", "revoke", {"token": token})["revoked"]

    def revoke_client(self, client):
        """Revoke every access token issued to `client` so far; returns how many were revoked."""
        cid = client.client_id if isinstance(client, IdpClient) else client
        return self._admin("POST", "revoke-client", {"client_id": cid})["revoked"]

    def set_fault(self, status=None, delay_ms=0, count=None, body=None, route="token", echo=None):
        """Make the next `count` (None = all) requests to `route` ("token" or "introspection") wait
        `delay_ms` and/or answer `status` with `body` (default: a temporarily_unavailable error).
        `echo` (token route, with a status): answer with the whole request as received (form body and
        Authorization header) in error_description ("description"), in the error code ("error") or
        as a text/plain body ("raw"). Replaces any fault set before."""
        fault = {"delay_ms": delay_ms}
        if echo is not None:
            fault["echo"] = echo
        if status is not None:
            fault["status"] = status
        if count is not None:
            fault["count"] = count
        if body is not None:
            fault["body"] = body
        return self._admin("POST", "faults", {route: fault})

    def clear_faults(self):
        return self._admin("POST", "faults", {})

    def nginx_introspection_settings(self):
        """nginx `set` lines for gw_auth.js (used by ProtectedDicomWeb)."""
        return (f"set $gw_introspection_url {quote(self.introspection_url())};\n"
                f"set $gw_introspection_auth "
                f"{quote(basic_auth(self.introspector.client_id, self.introspector.secret))};\n")


def _form_escape(value):
    # RFC 6749 2.3.1: client_id and secret are form-urlencoded before Basic encoding.
    return quote_plus(value)
