#!/usr/bin/python3
"""The shared (Redis) token level through the real plugin: two Orthanc replicas with the same
configuration and CacheType redis against the real IdP and a real redis-server (with a password).
The fleet makes one IdP call per key, also when both replicas ask at the same moment; what Redis
holds is sealed (no token, no secret in clear); Redis stopped: both replicas keep serving (IdP and
local cache) and fail nothing, Redis back: shared again; a replica with another encryption key does
not use the others' value and does not fail. IdP calls are counted at the IdP. With JWT validation
configured, only tokens that pass it are shared, and a token found in Redis that fails it (planted
here, sealed with the fleet's key) is not served but replaced."""
# gw-test-timeout: 300
import json
import os
import secrets
import threading

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harness import testing, wait_until
from harness.idp import IdentityProvider, IdpClient, IdpResource
from harness.redis import Redis
from gwtest import assert_no_secret, gateway_orthanc
from test_token_auth import JWT_RESOURCE
from test_token_cache import call_test, issued_tokens, parse_metrics, server_for

CLIENT = "fleet"
SERVER = "cloud"


class RedisFleet(testing.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient(client_id=CLIENT,
                                                                            auth_method="client_secret_post")],
                                                 name="idp-fleet"))
        cls.redis_password = "redis-pw-" + secrets.token_hex(8)
        cls.redis = cls.use_class(Redis(cls.ws, password=cls.redis_password))
        cls.key = secrets.token_hex(32)
        cls.other_key = secrets.token_hex(32)
        servers = {SERVER: server_for(cls.idp, CLIENT)}

        def replica(name, key):
            section = {"CacheType": "redis", "RedisUrl": cls.redis.url, "RedisEncryptionKey": key}
            return gateway_orthanc(cls.ws, servers=servers, section=section, name=name)

        cls.a = cls.use_class(replica("orthanc-a", cls.key))
        cls.b = cls.use_class(replica("orthanc-b", cls.key))
        cls.texts = []

    def calls(self):
        return self.idp.token_requests(CLIENT)

    def metrics(self, orthanc):
        text = orthanc.rest("GET", "/dicomweb-oauth/metrics").text
        self.texts.append(text)
        return parse_metrics(text)

    def test_1_fleet_makes_one_idp_call(self):
        # Cold caches on both replicas, the IdP slow: both ask at the same moment.
        self.assertEqual(self.calls(), 0)
        self.idp.set_fault(delay_ms=1500, count=1)
        results = {}
        start = threading.Barrier(8)

        def caller(i):
            start.wait(timeout=60)
            results[i] = call_test(self.a if i % 2 == 0 else self.b, SERVER, texts=self.texts)

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        self.idp.clear_faults()
        self.assertEqual(sorted(status for status, _ in results.values()), [200] * 8, results)
        self.assertEqual(self.calls(), 1, "the two replicas made more than one IdP call")
        # Both replicas serve the one token (same expiry, to the second).
        self.assertEqual(len({body["expiresAt"] for _, body in results.values()}), 1, results)
        a, b = self.metrics(self.a), self.metrics(self.b)
        label = '{server="cloud"}'
        misses = a.get(("dicomweb_oauth_shared_cache_misses_total", label), 0) + \
            b.get(("dicomweb_oauth_shared_cache_misses_total", label), 0)
        hits = a.get(("dicomweb_oauth_shared_cache_hits_total", label), 0) + \
            b.get(("dicomweb_oauth_shared_cache_hits_total", label), 0)
        self.assertEqual(misses, 1)
        self.assertEqual(hits, 1)
        self.assertEqual(a[("dicomweb_oauth_shared_cache_up", "")], 1)

        # A fresh token on one replica (its token rejected) is not served again by the other's read.
        before = self.calls()
        status, body = call_test(self.b, SERVER, fresh=True, texts=self.texts)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.calls(), before + 1)

    def test_2_redis_holds_only_sealed_values(self):
        self.assertEqual(call_test(self.a, SERVER, texts=self.texts)[0], 200)
        with self.redis.client() as c:
            keys = c.command("KEYS", "*")
            self.assertTrue(keys, "nothing stored in Redis")
            values = [c.command("GET", k) for k in keys]
            ttl = [c.command("PTTL", k) for k in keys]
        names = [k.decode() for k in keys]
        self.assertTrue(all(n.startswith("dicomweb-oauth:token:client_credentials:") for n in names), names)
        self.assertTrue(all(0 < t <= 300 * 1000 for t in ttl), ttl)  # expires with the token (300 s)
        tokens = issued_tokens(self.idp)
        self.assertTrue(tokens)
        blob = b"\n".join(v for v in values if v)
        for token in tokens:
            self.assertNotIn(token.encode(), blob)
        for plain in (b"access_token", b"Bearer", b"client_credentials", self.idp.client(CLIENT).secret.encode()):
            self.assertNotIn(plain, blob)

    def test_3_redis_down_then_back(self):
        self.redis.stop()
        try:
            before = self.calls()
            # A replaced token while Redis is down: from the IdP, no failure, for both replicas.
            for orthanc in (self.a, self.b):
                status, body = call_test(orthanc, SERVER, fresh=True, texts=self.texts)
                self.assertEqual(status, 200, body)
                self.assertLess(body["elapsedMs"], 5000)
            self.assertEqual(self.calls(), before + 2)
            # Cached tokens keep being served without any IdP call.
            for orthanc in (self.a, self.b):
                for _ in range(5):
                    self.assertEqual(call_test(orthanc, SERVER, texts=self.texts)[0], 200)
            self.assertEqual(self.calls(), before + 2)
            m = self.metrics(self.a)
            self.assertEqual(m[("dicomweb_oauth_shared_cache_up", "")], 0)
            self.assertGreaterEqual(m[("dicomweb_oauth_shared_cache_errors_total",
                                       '{reason="redis",server="cloud"}')], 1)
            self.a.wait_log("shared token cache: RDS-")
        finally:
            self.redis.start()

        # Back: after the client's back-off, a new token from one replica is shared again.
        def stored():
            call_test(self.a, SERVER, fresh=True, texts=self.texts)
            with self.redis.client() as c:
                return bool(c.command("KEYS", "dicomweb-oauth:token:*"))
        # Spaced out: the test route forces at most 5 fresh fetches per server per minute (GW-429).
        wait_until(stored, 32, "replica A to store a token in the restarted Redis", interval=8)
        before = self.calls()
        status, body = call_test(self.b, SERVER, fresh=True, texts=self.texts)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.calls(), before, "replica B called the IdP although A's token was in Redis")
        self.a.wait_log("is reachable again")

    def test_4_replica_with_another_key(self):
        self.assertEqual(call_test(self.a, SERVER, texts=self.texts)[0], 200)
        section = {"CacheType": "redis", "RedisUrl": self.redis.url, "RedisEncryptionKey": self.other_key}
        c = self.use(gateway_orthanc(self.ws, servers={SERVER: server_for(self.idp, CLIENT)}, section=section,
                                     name="orthanc-c"))
        before = self.calls()
        status, body = call_test(c, SERVER, texts=self.texts)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.calls(), before + 1, "the replica with another key used a value it cannot open")
        m = self.metrics(c)
        self.assertGreaterEqual(m[("dicomweb_oauth_shared_cache_errors_total", '{reason="decrypt",server="cloud"}')], 1)
        self.texts.append(c.log_text())

    def test_5_key_is_required(self):
        # CacheType redis without a key: the plugin refuses to start (tokens never stored in clear).
        section = {"CacheType": "redis", "RedisUrl": self.redis.url}
        d = gateway_orthanc(self.ws, servers={SERVER: server_for(self.idp, CLIENT)}, section=section,
                            name="orthanc-nokey")
        _, log = d.start_expecting_failure()
        self.assertIn("CFG-001", log)
        self.assertIn("RedisEncryptionKey", log)

    def test_zz_no_secret_in_any_output(self):
        secrets_ = [self.redis_password, self.key, self.other_key, self.idp.client(CLIENT).secret]
        secrets_ += sorted(issued_tokens(self.idp))
        for orthanc in (self.a, self.b):
            for path in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers", "/dicomweb-oauth/metrics",
                         "/tools/metrics-prometheus"):
                self.texts.append(orthanc.rest("GET", path).text)
            self.texts.append(orthanc.log_text())
        assert_no_secret(self, secrets_, *self.texts)



class RedisOnUnixSocket(testing.TestCase):
    """The same sharing over a unix socket, in database 2 (`unix:///path?db=2`)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient(client_id=CLIENT,
                                                                            auth_method="client_secret_basic")],
                                                 name="idp-unix"))
        cls.redis = cls.use_class(Redis(cls.ws, unix_socket=True, name="redis-unix"))
        section = {"CacheType": "redis", "RedisUrl": cls.redis.url + "?db=2"}
        servers = {SERVER: server_for(cls.idp, CLIENT)}
        # The key from the environment this time (no RedisEncryptionKey in the configuration).
        key_env = {"DICOMWEB_OAUTH_REDIS_KEY": secrets.token_hex(32)}
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers=servers, section=section, env_vars=key_env,
                                              name="orthanc-ua"))
        cls.b = cls.use_class(gateway_orthanc(cls.ws, servers=servers, section=section, env_vars=key_env,
                                              name="orthanc-ub"))

    def test_shared_over_unix_socket_in_db_2(self):
        for orthanc in (self.a, self.b, self.a, self.b):
            status, body = call_test(orthanc, SERVER)
            self.assertEqual(status, 200, body)
        self.assertEqual(self.idp.token_requests(CLIENT), 1)
        with self.redis.client() as c:
            self.assertEqual(c.command("KEYS", "dicomweb-oauth:*"), [])  # not in db 0
            self.assertEqual(c.command("SELECT", 2), "OK")
            self.assertEqual(len(c.command("KEYS", "dicomweb-oauth:token:*")), 1)


def seal(key_hex, key_id, record):
    """A value as the gateway stores it (SharedTokenSource): AES-256-GCM, nonce || ciphertext || tag,
    associated data "dicomweb-oauth/token/v1\n" + key id."""
    nonce = os.urandom(12)
    aad = b"dicomweb-oauth/token/v1\n" + key_id.encode()
    return nonce + AESGCM(bytes.fromhex(key_hex)).encrypt(nonce, json.dumps(record).encode(), aad)


def unseal(key_hex, key_id, value):
    aad = b"dicomweb-oauth/token/v1\n" + key_id.encode()
    return json.loads(AESGCM(bytes.fromhex(key_hex)).decrypt(value[:12], value[12:], aad))


class RedisSharesOnlyValidatedTokens(testing.TestCase):
    """JWT validation (JWKSUrl, JWTAudience, JWTIssuer) and the shared level: a token that fails is
    not stored; a stored token that fails (a replica with other checks, a value planted by any holder
    of the key) is not served, but replaced. Redis is addressed by host name (localhost), so the
    bounded host name lookup runs too."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(
            cls.ws, clients=[IdpClient("jwt-client", "client_secret_post")],
            resources=[IdpResource(JWT_RESOURCE, scopes=["dicomweb"], format="jwt")], name="idp-jwt-fleet"))
        cls.redis = cls.use_class(Redis(cls.ws, name="redis-jwt"))
        cls.key = secrets.token_hex(32)
        checks = {"JWKSUrl": cls.idp.jwks_url(), "JWTAudience": JWT_RESOURCE, "JWTIssuer": cls.idp.issuer,
                  "Scope": "dicomweb", "ResilienceConfig": {"RetryMaxAttempts": 1}}
        servers = {SERVER: server_for(cls.idp, "jwt-client", **checks),
                   "wrong-audience": server_for(cls.idp, "jwt-client",
                                                **{**checks, "JWTAudience": "https://someone-else.example/"})}
        section = {"CacheType": "redis", "RedisUrl": f"redis://localhost:{cls.redis.port}",
                   "RedisEncryptionKey": cls.key}
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers=servers, section=section, name="orthanc-ja"))
        cls.b = cls.use_class(gateway_orthanc(cls.ws, servers=servers, section=section, name="orthanc-jb"))
        cls.texts = []

    def calls(self):
        return self.idp.token_requests("jwt-client")

    def token_keys(self):
        with self.redis.client() as c:
            return sorted(k.decode() for k in c.command("KEYS", "dicomweb-oauth:token:*"))

    def test_1_a_token_that_fails_validation_is_not_shared(self):
        status, body = call_test(self.a, "wrong-audience", texts=self.texts)
        self.assertEqual(status, 503, body)
        self.assertIn("TOK-005", body["error"]["code"] + " " + body["error"]["message"], body)
        self.assertEqual(self.token_keys(), [], "a token that failed validation was stored in Redis")

    def test_2_a_shared_token_that_fails_validation_is_replaced(self):
        status, body = call_test(self.a, SERVER, texts=self.texts)
        self.assertEqual(status, 200, body)
        keys = self.token_keys()
        self.assertEqual(len(keys), 1, keys)
        name = keys[0]
        key_id = name[len("dicomweb-oauth:token:"):]
        with self.redis.client() as c:
            genuine = unseal(self.key, key_id, c.command("GET", name))
            # A record any holder of the key could write: fine by every field the cache checks, but
            # its token is not a JWT the IdP signed for this audience.
            planted = dict(genuine, access_token="planted-" + secrets.token_hex(16))
            planted.pop("refresh_at_ms", None)
            self.assertEqual(c.command("SET", name, seal(self.key, key_id, planted), "PX", 250000), "OK")
        before = self.calls()
        status, body = call_test(self.b, SERVER, texts=self.texts)  # B has no token yet: reads Redis
        self.assertEqual(status, 200, body)
        self.assertEqual(self.calls(), before + 1, "the planted token was served instead of a new one")
        m = parse_metrics(self.b.rest("GET", "/dicomweb-oauth/metrics").text)
        self.assertGreaterEqual(m[("dicomweb_oauth_shared_cache_errors_total",
                                   '{reason="invalid",server="cloud"}')], 1)
        self.assertEqual(m.get(("dicomweb_oauth_shared_cache_hits_total", '{server="cloud"}'), 0), 0)
        self.b.wait_log("a shared token failed validation")
        with self.redis.client() as c:
            replaced = unseal(self.key, key_id, c.command("GET", name))
        self.assertNotEqual(replaced["access_token"], planted["access_token"])
        self.assertNotEqual(replaced["access_token"], genuine["access_token"])
        for orthanc in (self.a, self.b):
            for text in (orthanc.log_text(), orthanc.rest("GET", "/dicomweb-oauth/servers").text):
                self.assertNotIn(planted["access_token"], text)

    def test_zz_no_secret_in_any_output(self):
        secrets_ = [self.key, self.idp.client("jwt-client").secret] + sorted(issued_tokens(self.idp))
        texts = list(self.texts)
        for orthanc in (self.a, self.b):
            for path in ("/dicomweb-oauth/status", "/dicomweb-oauth/servers", "/dicomweb-oauth/metrics"):
                texts.append(orthanc.rest("GET", path).text)
            texts.append(orthanc.log_text())
        assert_no_secret(self, secrets_, *texts)


if __name__ == "__main__":
    testing.main()
