#!/usr/bin/python3
"""The Redis TLS relay of the cloud deployments (infra/azure/redis-tls/entrypoint.sh), for real.

Azure Cache for Redis accepts TLS only and the gateway's hiredis (Debian 12: 0.14) has none, so each
replica runs this relay next to the gateway (docs/deploy/azure.md, "Redis over TLS"). Here: Debian's
redis-server with TLS only (no plain port) and a certificate from a test CA, the relay's own
entrypoint with Debian's stunnel4, and redis-cli speaking plain Redis to the relay on loopback, all
inside the test's network namespace (netns_run.py). Proves that the relay carries Redis with AUTH
through TLS, and that it refuses a server whose certificate names another host or chains to a CA
it does not trust, and bad settings, with their codes.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

SOURCE = os.environ.get("GW_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
ENTRYPOINT = os.path.join(SOURCE, "infra", "azure", "redis-tls", "entrypoint.sh")
PASSWORD = "relay-test-password-8d1f"


def wait_port(port, proc, deadline=15.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {deadline}s")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class RedisTlsRelay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("redis-server", "redis-cli", "stunnel", "openssl"):
            if not shutil.which(tool):
                raise AssertionError(f"RTLS-T01: {tool} not installed (scripts/lib/deps.sh installs stunnel4, redis-server)")
        cls.dir = tempfile.mkdtemp(prefix="redis-tls-relay-", dir=os.environ.get("GW_TEST_TMPDIR"))
        d = cls.dir
        # A test CA, and two server certificates it signs: one for localhost, one for another name.
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=relay test CA",
                "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
        for name in ("localhost", "other.example"):
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                    "-out", f"{name}.csr", cwd=d)
            with open(os.path.join(d, f"{name}.ext"), "w") as f:
                f.write(f"subjectAltName=DNS:{name}\n")
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)
        cls.procs = []
        # TLS-only Redis, like Azure Cache for Redis (no non-TLS port), one per certificate.
        cls.redis_ports = {"localhost": 16380, "other.example": 16381}
        for name, port in cls.redis_ports.items():
            p = subprocess.Popen(
                ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                 "--tls-cert-file", f"{name}.pem", "--tls-key-file", f"{name}.key",
                 "--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no",
                 "--tls-protocols", "TLSv1.2 TLSv1.3", "--requirepass", PASSWORD,
                 "--save", "", "--appendonly", "no", "--dir", d],
                cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            cls.procs.append(p)
            wait_port(port, p)

    @classmethod
    def tearDownClass(cls):
        for p in cls.procs:
            p.send_signal(signal.SIGTERM)
        for p in cls.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def relay(self, listen, **env):
        full = {"PATH": os.environ["PATH"], "TMPDIR": tempfile.mkdtemp(dir=self.dir), "LISTEN_PORT": str(listen)}
        full.update(env)
        log = open(os.path.join(full["TMPDIR"], "relay.log"), "w+")
        p = subprocess.Popen(["/bin/sh", ENTRYPOINT], env=full, stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (p.poll() is None and (p.terminate(), p.wait(timeout=10)), log.close()))
        return p, log

    def cli(self, port, *cmd):
        return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--no-auth-warning", "-a", PASSWORD, *cmd],
                              capture_output=True, text=True, timeout=20)

    def test_relay_carries_redis_with_auth_over_tls(self):
        p, _ = self.relay(16390, REDIS_HOST="localhost", REDIS_TLS_PORT="16380",
                          REDIS_CA_FILE=os.path.join(self.dir, "ca.pem"))
        wait_port(16390, p)
        self.assertEqual(self.cli(16390, "PING").stdout.strip(), "PONG")
        self.assertEqual(self.cli(16390, "SET", "gw:relay", "sealed-value", "PX", "60000").stdout.strip(), "OK")
        self.assertEqual(self.cli(16390, "GET", "gw:relay").stdout.strip(), "sealed-value")
        # The server really is TLS only: plain Redis to its port gets no answer.
        plain = subprocess.run(["redis-cli", "-p", "16380", "-a", PASSWORD, "--no-auth-warning", "PING"],
                               capture_output=True, text=True, timeout=20)
        self.assertNotEqual(plain.stdout.strip(), "PONG")

    def test_relay_refuses_a_certificate_for_another_host(self):
        # The cache named in REDIS_HOST is localhost, but the server presents other.example's
        # certificate (a man in the middle with a valid certificate of the same CA).
        p, log = self.relay(16391, REDIS_HOST="localhost", REDIS_TLS_PORT="16381",
                            REDIS_CA_FILE=os.path.join(self.dir, "ca.pem"))
        wait_port(16391, p)
        out = self.cli(16391, "PING")
        self.assertNotEqual(out.stdout.strip(), "PONG")
        log.seek(0)
        self.assertRegex(log.read(), r"(?i)certificate|verif|host")

    def test_relay_refuses_a_server_its_cas_do_not_trust(self):
        # The system CAs (Azure's default) do not include the test CA.
        p, log = self.relay(16392, REDIS_HOST="localhost", REDIS_TLS_PORT="16380")
        wait_port(16392, p)
        out = self.cli(16392, "PING")
        self.assertNotEqual(out.stdout.strip(), "PONG")
        log.seek(0)
        self.assertRegex(log.read(), r"(?i)certificate verify failed|verification failed|unable to get")

    def test_relay_bad_settings_fail_with_their_code(self):
        cases = [({}, "RTLS-001"),
                 ({"REDIS_HOST": "localhost; rm -rf /"}, "RTLS-002"),
                 ({"REDIS_HOST": "localhost", "REDIS_TLS_PORT": "63a0"}, "RTLS-002"),
                 ({"REDIS_HOST": "localhost", "REDIS_CA_FILE": "/nonexistent/ca.pem"}, "RTLS-003")]
        for env, code in cases:
            with self.subTest(code=code, env=env):
                p, log = self.relay(16393, **env)
                self.assertNotEqual(p.wait(timeout=10), 0)
                log.seek(0)
                self.assertIn(code, log.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
