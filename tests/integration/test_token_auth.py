#!/usr/bin/python3
"""Token acquisition through the real plugin in Orthanc against the real IdP (oidc-provider):
every OAuth2 client authentication method (RFC 6749, 7523, 8705), Auth0-style Audience and
Resource, a wrong secret (clear error, not retried), TLS (CaBundle, NET-003 without it, VerifySSL
false with its CFG-006 warning), optional JWT validation (JWKSUrl, JWTPublicKey, audience, issuer),
the `dicomweb-oauth token` command, and no planted secret anywhere in what the gateway shows."""
# gw-test-timeout: 300
import json
import re
import subprocess
import time

from harness import env, jose, testing
from harness.idp import IdentityProvider, IdpClient, IdpResource
from gwtest import assert_no_secret, gateway_orthanc

JWT_RESOURCE = "https://dicom.gw-test.example/"
AUTH0_AUDIENCE = "https://api.auth0-style.example/"
RESOURCE = "urn:gw-test:resource-indicator"
UPSTREAM = "http://127.0.0.1:9/dicom-web/"  # never contacted: these tests only acquire tokens
# Any compact JWS (access token or client assertion) showing up in an output is a leak.
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")


def server_for(idp, client_id, tls=False, **over):
    """A DicomWebOAuth server that authenticates as `client_id` the way the IdP registered it."""
    c = idp.client(client_id)
    server = {"Url": UPSTREAM, "Mode": "proxy", "TokenEndpoint": idp.token_url(tls),
              "ClientId": c.client_id, "ClientAuthMethod": c.auth_method}
    if c.secret is not None:
        server["ClientSecret"] = c.secret
    if c.auth_method == "private_key_jwt":
        server["PrivateKeyFile"] = str(c.key.private)
    if c.auth_method in ("tls_client_auth", "self_signed_tls_client_auth"):
        server["ClientCertificate"] = str(c.cert.cert)
        server["ClientKey"] = str(c.cert.key)
    if tls:
        server["CaBundle"] = str(idp.pki.ca_file)
    server.update(over)
    return {k: v for k, v in server.items() if v is not None}


def pem_lines(path):
    """Body lines of a PEM file: none of them may appear in any output."""
    return [line for line in open(path).read().splitlines() if line and not line.startswith("-----")]


class SecretWatch:
    """Every secret planted in a scenario (client secrets, private keys, tokens the IdP issued),
    and every text the gateway showed, scanned together."""

    def __init__(self, test_class):
        self.test_class = test_class
        self.secrets = set()
        self.texts = []

    def add_client(self, client):
        if client.secret:
            self.secrets.add(client.secret)
        if client.key is not None:
            self.secrets.update(pem_lines(client.key.private))
        if client.cert is not None:
            self.secrets.update(pem_lines(client.cert.key))

    def add_issued_tokens(self, idp):
        """Opaque tokens are the ids of the IdP's ClientCredentials records (its state file)."""
        store = idp.state_dir / "store.json"
        if store.exists():
            for key in json.loads(store.read_text()):
                model, _, token_id = key.partition(":")
                if model in ("ClientCredentials", "AccessToken") and len(token_id) >= 20:
                    self.secrets.add(token_id)

    def seen(self, *texts):
        for t in texts:
            self.texts.append(t.decode("utf-8", "replace") if isinstance(t, bytes) else t)

    def check(self, test, orthanc, idps=()):
        for idp in idps:
            self.add_issued_tokens(idp)
        for path in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers", "/dicomweb-oauth/metrics",
                     "/tools/metrics-prometheus"):
            self.seen(orthanc.rest("GET", path).text)
        self.seen(orthanc.log_text())
        test.assertGreater(len(self.secrets), 0)
        assert_no_secret(test, sorted(self.secrets), *self.texts)
        for text in self.texts:
            found = JWT_SHAPE.search(text)
            test.assertIsNone(found, f"a JWT shows up in an output: {found.group(0)[:24] if found else ''}...")


def call_test(test, orthanc, watch, name, fresh=True, expect=200):
    """POST /dicomweb-oauth/servers/{name}/test; returns the JSON answer."""
    r = orthanc.rest("POST", f"/dicomweb-oauth/servers/{name}/test", json={"Fresh": fresh})
    watch.seen(r.body)
    test.assertEqual(r.status, expect, f"{name}: {r.text}")
    return r.json()


class ClientAuthentication(testing.TestCase):
    """One IdP with TLS (nginx in front), one client per method, one Orthanc serving them all."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        clients = [
            IdpClient("post", "client_secret_post"),
            # RFC 6749 2.3.1: id and secret are form-encoded before Basic; this secret needs it.
            IdpClient("basic", "client_secret_basic", secret="b@sic:s3cret+/&=x y-" + "7" * 12),
            IdpClient("hs-jwt", "client_secret_jwt"),
            IdpClient("rsa-jwt", "private_key_jwt"),
            IdpClient("ec-jwt", "private_key_jwt", key_kind="ec"),
            IdpClient("mtls", "tls_client_auth"),
            IdpClient("self-signed", "self_signed_tls_client_auth"),
            IdpClient("auth0", "client_secret_post", resources=[AUTH0_AUDIENCE]),
            IdpClient("resource", "client_secret_basic", resources=[RESOURCE]),
            IdpClient("scoped", "client_secret_post", scopes=["dicomweb.read"]),
            IdpClient("refused", "client_secret_post"),
        ]
        resources = [IdpResource(), IdpResource(AUTH0_AUDIENCE, format="jwt"), IdpResource(RESOURCE)]
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=clients, resources=resources, tls=True))
        cls.watch = SecretWatch(cls)
        for c in cls.idp.clients.values():
            cls.watch.add_client(c)
        cls.wrong_secret = "wrong-secret-" + "q" * 20
        cls.watch.secrets.add(cls.wrong_secret)
        idp = cls.idp
        servers = {
            "post": server_for(idp, "post"),
            "basic": server_for(idp, "basic"),
            "hs-jwt": server_for(idp, "hs-jwt"),
            "rsa-jwt": server_for(idp, "rsa-jwt", PrivateKeyId="rsa-jwt-key", SigningAlgorithm="RS256"),
            # No SigningAlgorithm: the EC key decides (ES256).
            "ec-jwt": server_for(idp, "ec-jwt"),
            "ec-jwt-tls": server_for(idp, "ec-jwt", tls=True, PrivateKeyId="ec-jwt-key", SigningAlgorithm="ES256"),
            "mtls": server_for(idp, "mtls", tls=True),
            "self-signed": server_for(idp, "self-signed", tls=True),
            "post-tls": server_for(idp, "post", tls=True),
            "auth0": server_for(idp, "auth0", ProviderType="auth0", Audience=AUTH0_AUDIENCE),
            "resource": server_for(idp, "resource", Resource=RESOURCE),
            "scoped": server_for(idp, "scoped", Scope="dicomweb.read"),
            "scope-refused": server_for(idp, "scoped", Scope="dicomweb.write"),
            "refused": server_for(idp, "refused", ClientSecret=cls.wrong_secret),
        }
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, servers=servers))

    def acquire(self, name, client_id, **kwargs):
        before = self.idp.token_requests(client_id)
        body = call_test(self, self.orthanc, self.watch, name, **kwargs)
        self.assertTrue(body["ok"])
        self.assertEqual(body["server"], name)
        self.assertEqual(body["provider"], "client_credentials")
        self.assertEqual(body["tokenType"], "Bearer")
        self.assertGreater(body["expiresInSeconds"], 250)  # the IdP's default lifetime is 300 s
        self.assertEqual(self.idp.token_requests(client_id), before + 1, f"{name}: one IdP call")
        return body

    def last_event(self, client_id):
        events = [e for e in self.idp.events() if e.get("client_id") == client_id and e.get("route") == "/token"]
        self.assertTrue(events, f"no token request from {client_id}")
        return events[-1]

    def test_client_secret_post_and_basic(self):
        for name in ("post", "basic"):
            with self.subTest(server=name):
                self.acquire(name, name)
                self.assertEqual(self.last_event(name)["status"], 200)

    def test_client_secret_jwt(self):
        self.acquire("hs-jwt", "hs-jwt")

    def test_private_key_jwt_rsa_and_ec(self):
        self.acquire("rsa-jwt", "rsa-jwt")
        self.acquire("ec-jwt", "ec-jwt")
        self.acquire("ec-jwt-tls", "ec-jwt")

    def test_mutual_tls_over_the_idp_tls_endpoint(self):
        for name in ("mtls", "self-signed"):
            with self.subTest(server=name):
                self.acquire(name, name)

    def test_secret_over_tls_with_ca_bundle(self):
        self.acquire("post-tls", "post")

    def test_auth0_audience_and_resource_indicator(self):
        self.acquire("auth0", "auth0")
        # The fixture maps Auth0's `audience` onto the RFC 8707 resource the token is for.
        self.assertEqual(self.last_event("auth0")["resource"], AUTH0_AUDIENCE)
        self.acquire("resource", "resource")
        self.assertEqual(self.last_event("resource")["resource"], RESOURCE)

    def test_scope_sent_and_granted(self):
        body = self.acquire("scoped", "scoped")
        self.assertEqual(body["scopes"], ["dicomweb.read"])
        self.assertEqual(self.last_event("scoped")["scope"], "dicomweb.read")

    def test_scope_refused_is_auth_001(self):
        before = self.idp.token_requests("scoped")
        body = call_test(self, self.orthanc, self.watch, "scope-refused", expect=503)
        self.assertRegex(body["error"]["code"], r"^TOK-\d{3}$")
        self.assertIn("AUTH-001", body["error"]["message"])
        self.assertIn("invalid_scope", body["error"]["message"])
        self.assertEqual(self.idp.token_requests("scoped"), before + 1)

    def test_wrong_secret_is_a_clear_error_and_not_retried(self):
        before = self.idp.token_requests("refused")
        t0 = time.monotonic()
        body = call_test(self, self.orthanc, self.watch, "refused", expect=503)
        self.assertFalse(body["ok"])
        err = body["error"]
        self.assertRegex(err["code"], r"^TOK-\d{3}$")
        self.assertIn("AUTH-001", err["message"])
        self.assertIn("invalid_client", err["message"])
        self.assertIn("client authentication failed", err["message"])  # oidc-provider's own words
        # One request: the retry policy (3 attempts by default) does not retry refused credentials...
        self.assertEqual(self.idp.token_requests("refused"), before + 1)
        # ...and nothing asks again in the background while nobody needs the token.
        time.sleep(max(0.0, 4.0 - (time.monotonic() - t0)))
        self.assertEqual(self.idp.token_requests("refused"), before + 1)
        stats = self.idp.stats()["token"]["refused"]
        self.assertEqual(stats["issued"], 0)
        self.assertGreaterEqual(stats["errors"].get("invalid_client", 0), 1)
        state = {s["name"]: s for s in self.orthanc.get_json("/dicomweb-oauth/servers")["servers"]}["refused"]
        self.assertEqual(state["token"]["state"], "error")
        self.assertIn("AUTH-001", state["token"]["lastError"]["code"] + state["token"]["lastError"]["message"])

    def test_zz_no_secret_in_any_output(self):
        # Named to run last: by now every method has acquired and failed at least once.
        for name in ("post", "basic", "hs-jwt", "rsa-jwt", "mtls", "refused"):
            self.orthanc.rest("POST", f"/dicomweb-oauth/servers/{name}/test", json={"Fresh": False})
        self.watch.check(self, self.orthanc, [self.idp])


class TlsSettings(testing.TestCase):
    """CaBundle, no CA bundle (NET-003), VerifySSL false (works, CFG-006 at start-up), VerifySSL as
    a path (the Python plugin's form)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("svc", "client_secret_basic")],
                                                 tls=True, name="idp-tls"))
        cls.watch = SecretWatch(cls)
        cls.watch.add_client(cls.idp.client("svc"))
        fast = {"RetryMaxAttempts": 2, "RetryInitialDelay": 0.2}
        servers = {
            "ca-bundle": server_for(cls.idp, "svc", tls=True),
            "no-ca": server_for(cls.idp, "svc", tls=True, CaBundle=None, ResilienceConfig=fast),
            "insecure": server_for(cls.idp, "svc", tls=True, CaBundle=None, VerifySSL=False),
            "verify-path": server_for(cls.idp, "svc", tls=True, CaBundle=None, VerifySSL=str(cls.idp.pki.ca_file)),
        }
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, servers=servers, name="orthanc-tls"))

    def test_ca_bundle(self):
        before = self.idp.token_requests("svc")
        call_test(self, self.orthanc, self.watch, "ca-bundle")
        self.assertEqual(self.idp.token_requests("svc"), before + 1)

    def test_without_ca_bundle_the_certificate_is_refused(self):
        before = self.idp.token_requests("svc")
        body = call_test(self, self.orthanc, self.watch, "no-ca", expect=503)
        self.assertIn("NET-003", body["error"]["code"] + " " + body["error"]["message"])
        # The handshake failed: the request never reached the IdP.
        self.assertEqual(self.idp.token_requests("svc"), before)

    def test_verify_ssl_false_works_and_was_warned_about(self):
        call_test(self, self.orthanc, self.watch, "insecure")
        log = self.orthanc.log_text()
        self.assertRegex(log, r"CFG-006 DicomWebOAuth\.Servers\.insecure\.VerifySSL")

    def test_verify_ssl_as_a_ca_path(self):
        call_test(self, self.orthanc, self.watch, "verify-path")

    def test_zz_no_secret_in_any_output(self):
        self.watch.check(self, self.orthanc, [self.idp])


class JwtValidation(testing.TestCase):
    """JWT access tokens from the IdP verified with its JWKS and with a configured public key; a
    wrong audience or issuer refuses the token (TOK-005) and it is never served."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        resources = [IdpResource(JWT_RESOURCE, scopes=["dicomweb"], format="jwt")]
        cls.idp = cls.use_class(IdentityProvider(
            cls.ws, clients=[IdpClient("jwt-client", "client_secret_post"),
                             IdpClient("opaque-client", "client_secret_post", token_format="opaque")],
            resources=resources, name="idp-jwt"))
        cls.watch = SecretWatch(cls)
        for c in cls.idp.clients.values():
            cls.watch.add_client(c)
        rsa_jwk = next(k for k in cls.idp.jwks()["keys"] if k["kty"] == "RSA")
        public_pem = jose.jwk_to_pem(rsa_jwk)
        ec_jwk = next(k for k in cls.idp.jwks()["keys"] if k["kty"] == "EC")
        idp = cls.idp
        common = {"JWTAudience": JWT_RESOURCE, "JWTIssuer": idp.issuer, "Scope": "dicomweb",
                  "ResilienceConfig": {"RetryMaxAttempts": 1}}
        servers = {
            "jwks": server_for(idp, "jwt-client", JWKSUrl=idp.jwks_url(), **common),
            "public-key": server_for(idp, "jwt-client", JWTPublicKey=public_pem, **common),
            "wrong-audience": server_for(idp, "jwt-client", JWKSUrl=idp.jwks_url(),
                                         **{**common, "JWTAudience": "https://someone-else.example/"}),
            "wrong-issuer": server_for(idp, "jwt-client", JWTPublicKey=public_pem,
                                       **{**common, "JWTIssuer": "https://evil.example/"}),
            "wrong-key": server_for(idp, "jwt-client", JWTPublicKey=jose.jwk_to_pem(ec_jwk), **common),
            "opaque-refused": server_for(idp, "opaque-client", JWKSUrl=idp.jwks_url(), **common),
            # The IdP signs RS256: JWTAlgorithms decides whether that is accepted.
            "rs256-listed": server_for(idp, "jwt-client", JWKSUrl=idp.jwks_url(), JWTAlgorithms=["RS256"], **common),
            "wrong-algorithm": server_for(idp, "jwt-client", JWKSUrl=idp.jwks_url(), JWTAlgorithms=["ES256"],
                                          **common),
        }
        cls.orthanc = cls.use_class(gateway_orthanc(cls.ws, servers=servers, name="orthanc-jwt"))

    def test_jwks_url(self):
        body = call_test(self, self.orthanc, self.watch, "jwks")
        self.assertEqual(body["scopes"], ["dicomweb"])
        # The JWKS was fetched from the IdP.
        self.assertGreaterEqual(self.idp.stats()["routes"].get("/jwks", 0), 1)

    def test_public_key(self):
        call_test(self, self.orthanc, self.watch, "public-key")

    def test_wrong_audience_issuer_or_key_refuse_the_token(self):
        for name, hint in (("wrong-audience", "aud"), ("wrong-issuer", "iss"), ("wrong-key", ""),
                           ("opaque-refused", "")):
            with self.subTest(server=name):
                body = call_test(self, self.orthanc, self.watch, name, expect=503)
                text = body["error"]["code"] + " " + body["error"]["message"]
                self.assertIn("TOK-005", text)
                self.assertIn(hint, body["error"]["message"])
                state = {s["name"]: s for s in self.orthanc.get_json("/dicomweb-oauth/servers")["servers"]}[name]
                self.assertNotEqual(state["token"]["state"], "valid")

    def test_jwt_algorithms_was_never_read(self):
        call_test(self, self.orthanc, self.watch, "rs256-listed")
        body = call_test(self, self.orthanc, self.watch, "wrong-algorithm", expect=503)
        self.assertIn("TOK-005", body["error"]["message"])  # inside the acquisition's TOK-002
        self.assertIn("CRY-005: algorithm 'RS256' is not accepted (JWTAlgorithms: ES256)", body["error"]["message"])

    def test_zz_no_secret_in_any_output(self):
        self.watch.check(self, self.orthanc, [self.idp])


class TokenCommand(testing.TestCase):
    """`dicomweb-oauth token --config ... --server ...` acquires from the IdP like the plugin."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(
            cls.ws, clients=[IdpClient("cli", "client_secret_basic"), IdpClient("cli-ec", "private_key_jwt",
                                                                                 key_kind="ec")],
            access_token_ttl=120, name="idp-cli"))
        cls.secret = cls.idp.client("cli").secret
        servers = {
            "cloud": server_for(cls.idp, "cli", ClientSecret="${GW_CLI_TOKEN_SECRET}", Scope="dicomweb"),
            "ec": server_for(cls.idp, "cli-ec"),
            "refused": server_for(cls.idp, "cli", ClientSecret="not-the-secret-" + "z" * 16),
        }
        cls.config = cls.ws.path / "cli-orthanc.json"
        cls.config.write_text(json.dumps({"DicomWebOAuth": {
            "Servers": servers, "ScriptDirectories": [str(env.SOURCE_DIR / "lua")]}}, indent=2))

    def run_cli(self, *args, secret=True):
        environment = {"PATH": "/usr/bin:/bin"}
        if secret:
            environment["GW_CLI_TOKEN_SECRET"] = self.secret
        return subprocess.run([env.cli_path(), "token", *args], capture_output=True, text=True, timeout=60,
                              env=environment)

    def test_metadata_without_the_token(self):
        before = self.idp.token_requests("cli")
        r = self.run_cli("--config", str(self.config), "--server", "cloud")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        body = json.loads(r.stdout)
        self.assertTrue(body["ok"])
        self.assertEqual(body["server"], "cloud")
        self.assertEqual(body["provider"], "client_credentials")
        self.assertEqual(body["scopes"], ["dicomweb"])
        self.assertGreater(body["expiresInSeconds"], 100)
        self.assertNotIn("accessToken", body)
        self.assertEqual(self.idp.token_requests("cli"), before + 1)
        watch = SecretWatch(self)
        watch.add_issued_tokens(self.idp)
        assert_no_secret(self, [self.secret, *watch.secrets], r.stdout, r.stderr)

    def test_show_token_prints_a_token_the_idp_issued(self):
        r = self.run_cli("--config", str(self.config), "--server", "ec", "--show-token")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        token = json.loads(r.stdout)["accessToken"]
        self.assertTrue(self.idp.introspect(token)["active"])
        self.assertEqual(self.idp.introspect(token)["client_id"], "cli-ec")
        # The leak scans of these scripts look for tokens read from the IdP's store: this one is there.
        watch = SecretWatch(self)
        watch.add_issued_tokens(self.idp)
        self.assertIn(token, watch.secrets)

    def test_failure_prints_code_and_exits_1(self):
        r = self.run_cli("--config", str(self.config), "--server", "refused")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, r"error TOK-\d{3}: .*AUTH-001.*invalid_client")
        self.assertEqual(r.stdout, "")
        assert_no_secret(self, ["not-the-secret-" + "z" * 16, self.secret], r.stdout, r.stderr)

    def test_unset_secret_variable_is_a_configuration_error(self):
        r = self.run_cli("--config", str(self.config), "--server", "cloud", secret=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("CFG-003", r.stderr)
        self.assertIn("GW_CLI_TOKEN_SECRET", r.stderr)

    def test_unknown_server_and_usage_errors(self):
        r = self.run_cli("--config", str(self.config), "--server", "nope")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("error TOK-006", r.stderr)
        self.assertIn("cloud", r.stderr)  # the configured names are listed
        for args in ((), ("--config", str(self.config)), ("--server", "cloud"),
                     ("--config", str(self.config), "--server", "cloud", "--bogus"),
                     ("--config", str(self.config), "--server")):
            with self.subTest(args=args):
                r = self.run_cli(*args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn("usage: dicomweb-oauth token", r.stderr)


if __name__ == "__main__":
    testing.main()
