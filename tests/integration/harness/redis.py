"""Debian's redis-server on 127.0.0.1 (or a unix socket) with a temp dir and no persistence.

    redis = Redis(ws).start()
    redis.url                        # redis://127.0.0.1:<port>/0 (with the password if one is set)
    redis.client().command("GET", "k")
    redis.stop(); redis.start()      # same port; the data is gone (no persistence)

RespClient speaks RESP2 over a raw socket so tests can inspect what the gateway stored.
"""
import socket

from . import env
from .errors import HarnessError
from .process import wait_until


class RedisError(Exception):
    """An error reply (-ERR ...) from the server."""


class RespClient:
    """Minimal synchronous RESP2 client. One connection; not thread-safe; use as a context manager."""

    def __init__(self, host="127.0.0.1", port=None, unix_socket=None, password=None, timeout=10.0):
        if unix_socket:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = str(unix_socket)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            target = (host, port)
        self.sock.settimeout(timeout)
        self._buf = b""
        try:
            self.sock.connect(target)
            if password:
                self.command("AUTH", password)
        except BaseException:
            self.sock.close()
            raise

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def command(self, *args):
        """Send one command; returns str/bytes/int/list/None; raises RedisError on an error reply."""
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        payload = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        self.sock.sendall(payload)
        return self._reply()

    def _read_line(self):
        while b"\r\n" not in self._buf:
            self._fill()
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _read_exact(self, n):
        while len(self._buf) < n:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise HarnessError("HAR-501", "redis closed the connection")
        self._buf += chunk

    def _reply(self):
        line = self._read_line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self._read_exact(n + 2)[:-2]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise HarnessError("HAR-502", f"unexpected RESP reply {line[:50]!r}")


class Redis:
    """One redis-server. Not thread-safe."""

    def __init__(self, ws, password=None, unix_socket=False, name="redis"):
        self.ws = ws
        self.dir = ws.dir(name)
        self.name = self.dir.name
        self.port = ws.ports.allocate()
        self.password = password
        self.socket_path = self.dir / "redis.sock" if unix_socket else None
        # Settings go to a file, not argv: the process log records argv, and a password is a secret.
        lines = ["bind 127.0.0.1", f"port {self.port}", f"dir {self.dir}", 'save ""', "appendonly no",
                 "daemonize no", "protected-mode yes", 'logfile ""', "loglevel notice"]
        if self.socket_path:
            lines += [f"unixsocket {self.socket_path}", "unixsocketperm 700"]
        if password:
            lines.append(f"requirepass {password}")
        conf = self.dir / "redis.conf"
        conf.write_text("\n".join(lines) + "\n")
        conf.chmod(0o600)
        argv = [env.REDIS_BIN, str(conf)]
        self.process = ws.spawn(self.name, argv)

    def start(self, timeout=15.0):
        self.process.start()

        def ready():
            if self.process.poll() is not None:
                raise HarnessError("HAR-503", f"redis-server exited with {self.process.returncode}:\n"
                                              f"{self.process.log_text()[-2000:]}")
            try:
                with self.client(timeout=1.0) as c:
                    return c.command("PING") == "PONG"
            except (OSError, HarnessError, RedisError):
                return False
        wait_until(ready, timeout, f"redis {self.name} to answer PING")
        return self

    def stop(self):
        return self.process.stop()

    def terminate(self):
        self.process.terminate()

    def restart(self, timeout=15.0):
        self.stop()
        return self.start(timeout)

    @property
    def running(self):
        return self.process.running

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        """redis:// URL (password included when set) or unix:// path."""
        if self.socket_path:
            return f"unix://{self.socket_path}"
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, timeout=10.0):
        return RespClient(port=self.port, unix_socket=self.socket_path, password=self.password,
                          timeout=timeout)

    def log_text(self):
        return self.process.log_text()
