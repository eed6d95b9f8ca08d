#!/usr/bin/python3
"""Harness self-test: the IdP fixture (oidc-provider) with every client authentication method, counters,
introspection, revocation, restart, TLS through nginx and RFC 8705 mTLS. No plugin involved."""
import ssl
import time

from harness import jose, testing
from harness.errors import HarnessError
from harness.http import request
from harness.idp import IdentityProvider, IdpClient, IdpResource
from harness.pki import Pki

JWT_RESOURCE = "https://dicom.example.test/"
ES_RESOURCE = "https://es256.example.test/"


def clients():
    return [
        IdpClient("post", "client_secret_post"),
        IdpClient("basic", "client_secret_basic"),
        IdpClient("hs-jwt", "client_secret_jwt"),
        IdpClient("rsa-jwt", "private_key_jwt"),
        IdpClient("ec-jwt", "private_key_jwt", key_kind="ec"),
        IdpClient("mtls", "tls_client_auth"),
        IdpClient("self-signed", "self_signed_tls_client_auth"),
        IdpClient("bound", "tls_client_auth", certificate_bound=True),
        IdpClient("jwt-at", "client_secret_basic", default_resource=JWT_RESOURCE, token_format="jwt",
                  access_token_ttl=120),
        IdpClient("short", "client_secret_post", access_token_ttl=2),
        IdpClient("limited", "client_secret_post", scopes=["dicomweb.read"],
                  resources=["urn:gw-test:dicomweb"]),
    ]


class IdpHarnessTest(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        resources = [IdpResource(), IdpResource(JWT_RESOURCE, scopes=["https://dicom.example.test/.default"],
                                                format="jwt"),
                     IdpResource(ES_RESOURCE, format="jwt", jwt_alg="ES256", ttl=60)]
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=clients(), resources=resources, tls=True))

    def setUp(self):
        self.idp.clear_faults()

    def assert_token(self, response):
        self.assertEqual(response.status, 200, response.text)
        body = response.json()
        self.assertEqual(body["token_type"], "Bearer")
        self.assertTrue(body["access_token"])
        return body

    # -- client authentication methods --------------------------------------------------------------

    def test_every_auth_method_obtains_a_token(self):
        for cid in ("post", "basic", "hs-jwt", "rsa-jwt", "ec-jwt", "mtls", "self-signed"):
            with self.subTest(client=cid):
                body = self.assert_token(self.idp.request_token(cid, scope="dicomweb"))
                self.assertEqual(body["scope"], "dicomweb")
                self.assertEqual(body["expires_in"], 300)
                self.assertTrue(self.idp.introspect(body["access_token"])["active"])

    def test_secret_clients_also_work_over_tls(self):
        for cid in ("post", "basic", "hs-jwt", "rsa-jwt"):
            with self.subTest(client=cid):
                self.assert_token(self.idp.request_token(cid, tls=True))

    def test_wrong_credentials_get_invalid_client(self):
        for cid in ("post", "basic", "hs-jwt"):
            with self.subTest(client=cid):
                r = self.idp.request_token(cid, secret="not-the-secret")
                self.assertEqual(r.status, 401)
                self.assertEqual(r.json()["error"], "invalid_client")
        # private_key_jwt signed with a key the IdP does not know
        stranger = Pki(self.ws, "stranger").key_pair("stranger")
        c = self.idp.client("rsa-jwt")
        assertion = jose.client_assertion("rsa-jwt", self.idp.token_url(), "RS256", key=stranger.private,
                                          kid="rsa-jwt-key")
        r = request("POST", self.idp.token_url(), form={
            "grant_type": "client_credentials", "client_id": c.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion})
        self.assertEqual(r.json()["error"], "invalid_client")
        # unknown client
        r = request("POST", self.idp.token_url(), form={
            "grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"})
        self.assertEqual(r.json()["error"], "invalid_client")

    def test_mtls_rejections(self):
        # tls_client_auth without presenting a certificate
        r = self.idp.request_token("mtls", send_certificate=False)
        self.assertEqual(r.json()["error"], "invalid_client")
        # a certificate from a CA the IdP does not trust, with the right subject
        other = Pki(self.ws, "other-ca").client_cert("mtls")
        ctx = ssl.create_default_context(cafile=str(self.idp.pki.ca_file))
        ctx.load_cert_chain(str(other.cert), str(other.key))
        r = request("POST", self.idp.token_url(tls=True), ssl_context=ctx,
                    form={"grant_type": "client_credentials", "client_id": "mtls"})
        self.assertEqual(r.json()["error"], "invalid_client")
        # the right CA but another subject
        wrong_subject = self.idp.pki.client_cert("someone-else")
        ctx = ssl.create_default_context(cafile=str(self.idp.pki.ca_file))
        ctx.load_cert_chain(str(wrong_subject.cert), str(wrong_subject.key))
        r = request("POST", self.idp.token_url(tls=True), ssl_context=ctx,
                    form={"grant_type": "client_credentials", "client_id": "mtls"})
        self.assertEqual(r.json()["error"], "invalid_client")
        # self-signed client presenting another self-signed certificate
        r = request("POST", self.idp.token_url(tls=True), ssl_context=ctx,
                    form={"grant_type": "client_credentials", "client_id": "self-signed"})
        self.assertEqual(r.json()["error"], "invalid_client")
        # a forged certificate header on the plain port is ignored
        c = self.idp.client("mtls")
        r = request("POST", self.idp.token_url(), headers={"X-SSL-Client-Cert": c.cert.cert_pem().replace("\n", "%0A")},
                    form={"grant_type": "client_credentials", "client_id": "mtls"})
        self.assertEqual(r.json()["error"], "invalid_client")

    def test_certificate_bound_token(self):
        token = self.assert_token(self.idp.request_token("bound"))["access_token"]
        info = self.idp.introspect(token)
        self.assertTrue(info["active"])
        self.assertIn("x5t#S256", info["cnf"])

    # -- TLS ----------------------------------------------------------------------------------------

    def test_tls_server_certificate(self):
        discovery = self.idp.tls_url + "/.well-known/openid-configuration"
        # trusted through the harness CA bundle, for both 127.0.0.1 and localhost
        ok = request("GET", discovery, ssl_context=self.idp.ssl_context())
        self.assertEqual(ok.status, 200)
        self.assertEqual(ok.json()["issuer"], self.idp.issuer)
        self.assertTrue(ok.json()["token_endpoint"].startswith("https://127.0.0.1:"))
        via_name = request("GET", discovery.replace("127.0.0.1", "localhost"), ssl_context=self.idp.ssl_context())
        self.assertEqual(via_name.status, 200)
        # not trusted without the CA bundle
        with self.assertRaises(ssl.SSLCertVerificationError):
            request("GET", discovery, ssl_context=ssl.create_default_context())
        # VerifySSL false equivalent
        self.assertEqual(request("GET", discovery, ssl_context=self.idp.ssl_context(verify=False)).status, 200)
        # the access log shows TLS was used
        entries = self.idp.nginx.access_entries()
        self.assertTrue(any(e["ssl_protocol"].startswith("TLS") for e in entries))

    # -- scopes, resources, formats, lifetimes ------------------------------------------------------

    def test_scope_and_resource_rules(self):
        self.assertEqual(self.idp.request_token("post", scope="not-a-scope").json()["error"], "invalid_scope")
        self.assertEqual(self.idp.request_token("limited", scope="dicomweb.write").json()["error"], "invalid_scope")
        self.assert_token(self.idp.request_token("limited", scope="dicomweb.read"))
        r = self.idp.request_token("limited", resource=JWT_RESOURCE)
        self.assertEqual(r.json()["error"], "invalid_target")
        r = self.idp.request_token("post", resource="https://unknown.example.test/")
        self.assertEqual(r.json()["error"], "invalid_target")
        # Auth0-style `audience` selects the resource; that resource issues JWTs
        body = self.assert_token(self.idp.request_token("post", audience=JWT_RESOURCE))
        header, payload = jose.decode(body["access_token"])
        self.assertEqual(payload["aud"], JWT_RESOURCE)

    def test_jwt_access_token_verifies_with_jwks(self):
        body = self.assert_token(self.idp.request_token("jwt-at"))
        self.assertEqual(body["expires_in"], 120)
        token = body["access_token"]
        header, _ = jose.decode(token)
        self.assertEqual(header["typ"], "at+jwt")
        payload = jose.verify(token, self.idp.jwks())
        self.assertEqual(payload["iss"], self.idp.issuer)
        self.assertEqual(payload["aud"], JWT_RESOURCE)
        self.assertEqual(payload["client_id"], "jwt-at")
        self.assertEqual(payload["exp"] - payload["iat"], 120)
        # a tampered token does not verify
        h, p, s = token.split(".")
        forged = jose.b64url(jose.b64url_decode(p).replace(b'"jwt-at"', b'"evil!!"'))
        with self.assertRaises(HarnessError):
            jose.verify(f"{h}.{forged}.{s}", self.idp.jwks())
        info = self.idp.introspect(token)
        self.assertTrue(info["active"])
        self.assertEqual(info["aud"], JWT_RESOURCE)
        # ES256-signed tokens of another resource, with that resource's lifetime
        body = self.assert_token(self.idp.request_token("post", resource=ES_RESOURCE))
        self.assertEqual(jose.decode(body["access_token"])[0]["alg"], "ES256")
        payload = jose.verify(body["access_token"], self.idp.jwks())
        self.assertEqual((payload["aud"], payload["exp"] - payload["iat"]), (ES_RESOURCE, 60))

    def test_short_ttl_expires(self):
        body = self.assert_token(self.idp.request_token("short"))
        self.assertEqual(body["expires_in"], 2)
        self.assertTrue(self.idp.introspect(body["access_token"])["active"])
        time.sleep(3.1)
        self.assertFalse(self.idp.introspect(body["access_token"])["active"])

    # -- introspection and revocation ---------------------------------------------------------------

    def test_introspection_and_revocation(self):
        self.assertFalse(self.idp.introspect("not-a-token")["active"])
        for cid in ("post", "jwt-at"):
            with self.subTest(client=cid):
                token = self.idp.issue_token(cid)
                info = self.idp.introspect(token)
                self.assertTrue(info["active"])
                self.assertEqual(info["client_id"], cid)
                self.assertTrue(self.idp.revoke(token))
                self.assertFalse(self.idp.introspect(token)["active"])
                self.assertFalse(self.idp.revoke(token))
        # introspection requires client authentication
        r = request("POST", self.idp.introspection_url(), form={"token": "x"})
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"))

    # -- counters and faults ------------------------------------------------------------------------

    def test_counts_per_client(self):
        self.idp.reset_stats()
        for _ in range(3):
            self.idp.issue_token("basic")
        self.idp.request_token("basic", secret="wrong")
        self.idp.issue_token("post")
        stats = self.idp.stats()
        self.assertEqual(stats["token"]["basic"]["requests"], 4)
        self.assertEqual(stats["token"]["basic"]["issued"], 3)
        self.assertEqual(stats["token"]["basic"]["errors"], {"invalid_client": 1})
        self.assertEqual(self.idp.token_requests("post"), 1)
        self.assertEqual(self.idp.token_requests("hs-jwt"), 0)
        events = [e for e in self.idp.events() if e["route"] == "/token"]
        self.assertEqual([e["client_id"] for e in events], ["basic"] * 4 + ["post"])
        self.assertEqual(events[3]["error"], "invalid_client")

    def test_faults(self):
        self.idp.reset_stats()
        self.idp.set_fault(status=503, count=2)
        self.assertEqual(self.idp.request_token("post").status, 503)
        self.assertEqual(self.idp.request_token("post").status, 503)
        self.assert_token(self.idp.request_token("post"))
        self.idp.set_fault(delay_ms=600, count=1)
        start = time.monotonic()
        self.assert_token(self.idp.request_token("post"))
        self.assertGreaterEqual(time.monotonic() - start, 0.55)
        stats = self.idp.stats()["token"]["post"]
        self.assertEqual((stats["requests"], stats["issued"], stats["faulted"]), (4, 2, 3))


class IdpRestartTest(testing.TestCase):
    """Stop and restart keep keys, clients, issued tokens and counters."""

    def test_restart_keeps_state(self):
        idp = self.use(IdentityProvider(self.ws, clients=[
            IdpClient("svc", "client_secret_basic"),
            IdpClient("svc-jwt", "private_key_jwt", token_format="jwt")]))
        jwks_before = idp.jwks()
        opaque = idp.issue_token("svc")
        jwt = idp.issue_token("svc-jwt")
        self.assertEqual(idp.stats()["starts"], 1)

        idp.stop()
        with self.assertRaises(ConnectionRefusedError):
            idp.request_token("svc")
        idp.start()

        self.assertEqual(idp.jwks(), jwks_before)
        self.assertTrue(idp.introspect(opaque)["active"])
        self.assertTrue(idp.introspect(jwt)["active"])
        jose.verify(jwt, idp.jwks())
        self.assertEqual(idp.token_requests("svc"), 1)
        idp.issue_token("svc")
        idp.issue_token("svc-jwt")
        self.assertEqual(idp.token_requests("svc"), 2)
        self.assertEqual(idp.stats()["starts"], 2)
        idp.restart()
        self.assertEqual(idp.stats()["starts"], 3)

    def test_missing_node_modules_message(self):
        import os
        from harness import env
        saved = os.environ.get("GW_NODE_MODULES")
        os.environ["GW_NODE_MODULES"] = str(self.ws.path / "no-node-modules")
        try:
            with self.assertRaisesRegex(HarnessError, r"HAR-002: .*run `npm ci` in tests/fixtures/idp"):
                env.require_node_modules()
        finally:
            if saved is None:
                del os.environ["GW_NODE_MODULES"]
            else:
                os.environ["GW_NODE_MODULES"] = saved


if __name__ == "__main__":
    testing.main()
