#!/usr/bin/python3
"""Harness self-test: Redis starts on loopback, speaks RESP, honours its password, restarts empty."""
from harness import testing
from harness.redis import Redis, RedisError, RespClient


class RedisHarnessTest(testing.TestCase):

    def test_ping_set_get(self):
        redis = self.use(Redis(self.ws))
        with redis.client() as c:
            self.assertEqual(c.command("PING"), "PONG")
            self.assertEqual(c.command("SET", "gw:key", "value-1", "PX", 60000), "OK")
            self.assertEqual(c.command("GET", "gw:key"), b"value-1")
            self.assertIsNone(c.command("GET", "gw:missing"))
            self.assertEqual(c.command("SET", "gw:lease", "a", "NX", "PX", 60000), "OK")
            self.assertIsNone(c.command("SET", "gw:lease", "b", "NX", "PX", 60000))
            self.assertEqual(c.command("DEL", "gw:key", "gw:lease"), 2)
            with self.assertRaises(RedisError):
                c.command("NOSUCHCOMMAND")
        self.assertTrue(redis.url.startswith("redis://127.0.0.1:"))

    def test_password_and_restart_without_persistence(self):
        redis = self.use(Redis(self.ws, password="redis-pass-1"))
        with RespClient(port=redis.port) as anonymous:
            with self.assertRaisesRegex(RedisError, "NOAUTH"):
                anonymous.command("GET", "x")
        with redis.client() as c:
            c.command("SET", "gw:persist", "1")
        first_pid = redis.process.pid
        redis.restart()
        self.assertNotEqual(redis.process.pid, first_pid)
        with redis.client() as c:
            self.assertIsNone(c.command("GET", "gw:persist"))
        self.assertIn("redis-pass-1@", redis.url)
        self.assertNotIn("redis-pass-1", redis.log_text())

    def test_unix_socket(self):
        redis = self.use(Redis(self.ws, unix_socket=True))
        with redis.client() as c:
            self.assertEqual(c.command("ECHO", "hello"), b"hello")
        self.assertTrue(redis.url.startswith("unix://"))

    def test_stop_means_connection_refused(self):
        redis = self.use(Redis(self.ws))
        redis.stop()
        with self.assertRaises(ConnectionRefusedError):
            RespClient(port=redis.port, timeout=2)


if __name__ == "__main__":
    testing.main()
