#!/usr/bin/python3
"""Faults under load: Redis killed (SIGKILL) and restarted while STOW and QIDO run without pause
through both modes (inject and proxy) of one gateway with the shared (Redis) token level. Tokens
live TTL s, so they are refreshed while Redis is gone. No operation may fail; tokens come from the
local cache and the IdP meanwhile; afterwards the shared level is used again (a token is stored in
the restarted Redis, the gauge is back to 1). Load duration: GW_FAULT_SECONDS (CI default below);
the figures are printed."""
# gw-test-timeout: 240
import secrets
import signal
import time

from harness import testing, wait_until
from harness.faults import Load, qido_op, seconds_from_env, stow_op
from harness.idp import IdentityProvider, IdpClient
from harness.redis import Redis
from harness.upstream import ProtectedDicomWeb
from gwtest import assert_no_secret, gateway_orthanc, oauth_server, wait_proxy_definition
from test_token_cache import parse_metrics

SECRET = "faults-redis-client-secret-7c1e"
TTL = 16


class RedisKilledUnderLoad(testing.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.idp = cls.use_class(IdentityProvider(cls.ws, clients=[IdpClient("orthanc-a", secret=SECRET,
                                                                            access_token_ttl=TTL)]))
        cls.upstream = cls.use_class(ProtectedDicomWeb(cls.ws, cls.idp))
        cls.redis = cls.use_class(Redis(cls.ws))
        cls.key = secrets.token_hex(32)
        servers = {"inj": oauth_server(cls.idp, cls.upstream.dicomweb_url, SECRET, mode="inject"),
                   "prx": oauth_server(cls.idp, cls.upstream.dicomweb_url, SECRET, mode="proxy")}
        section = {"CacheType": "redis", "RedisUrl": cls.redis.url, "RedisEncryptionKey": cls.key}
        cls.a = cls.use_class(gateway_orthanc(cls.ws, servers=servers, section=section))
        wait_proxy_definition(cls.a, "prx")

    def metrics(self):
        return parse_metrics(self.a.rest("GET", "/dicomweb-oauth/metrics").text)

    def redis_keys(self):
        with self.redis.client() as c:
            return c.command("KEYS", "dicomweb-oauth:token:*")

    def test_redis_killed_and_restarted_during_stow_and_qido(self):
        duration = seconds_from_env(20)
        load = Load()
        for mode in ("inj", "prx"):
            load.loop(f"stow/{mode}", stow_op(self.a, mode, f"RDS-{mode}"))
            load.loop(f"qido/{mode}", qido_op(self.a, mode, f"RDS-{mode}"), pause=0.1)
        t0 = time.monotonic()
        load.start()
        try:
            time.sleep(duration * 0.25)
            self.assertTrue(self.redis_keys(), "the shared level held no token before the fault")
            calls_before = self.idp.token_requests("orthanc-a")
            killed = time.monotonic()
            self.redis.process.signal(signal.SIGKILL)
            self.redis.process.wait(10)
            self.a.wait_log("shared token cache: RDS-", timeout=TTL + 5)
            down = self.metrics()
            time.sleep(max(0.0, t0 + duration * 0.6 - time.monotonic()))
            calls_during = self.idp.token_requests("orthanc-a") - calls_before
            self.redis.stop()
            self.redis.start()
            restarted = time.monotonic()
            time.sleep(max(0.0, t0 + duration - time.monotonic()))
        finally:
            load.stop()
        ended = time.monotonic()
        periods = [("before", t0, killed), ("outage", killed, restarted), ("after", restarted, ended)]
        print(load.report(f"Redis SIGKILL at {killed - t0:.1f} s, back at {restarted - t0:.1f} s, "
                          f"load {ended - t0:.1f} s, tokens of {TTL} s, IdP token requests during the outage: "
                          f"{calls_during}", periods))
        failures = load.failures()
        self.assertEqual(failures, [], f"{len(failures)} operations failed: {failures[:5]}")
        for mode in ("inj", "prx"):
            for op in ("stow", "qido"):
                self.assertGreater(load.figures(f"{op}/{mode}", killed, restarted)["count"], 0,
                                   f"no {op}/{mode} ran during the outage")
        self.assertEqual(down[("dicomweb_oauth_shared_cache_up", "")], 0)
        # Tokens came from the IdP while Redis was gone (the refresh at half the lifetime fell in it).
        self.assertGreater(calls_during, 0)

        # The shared level recovers by itself: a token is stored again in the (empty) restarted Redis.
        wait_until(lambda: self.redis_keys(), TTL + 10, "a token in the restarted Redis", interval=0.5)
        wait_until(lambda: self.metrics()[("dicomweb_oauth_shared_cache_up", "")] == 1, 10, "shared_cache_up 1")
        self.a.wait_log("is reachable again")
        status = self.a.get_json("/dicomweb-oauth/status")
        for name in ("inj", "prx"):
            self.assertEqual(status["servers"]["states"][name]["token"]["state"], "valid", status)
        assert_no_secret(self, [SECRET, self.key], self.a.log_text())


if __name__ == "__main__":
    testing.main()
