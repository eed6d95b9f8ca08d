"""Fault injection for the integration tests and the soak run: things that fail the way real networks,
identity providers and DICOMweb services fail.

    proxy = TcpFaultProxy(ws, target_port=idp.port).start()   # the gateway's TokenEndpoint goes here
    proxy.down()            # connection refused, open connections reset (an IdP being restarted)
    proxy.up()
    proxy.set_delay(10.0)   # every answer's first byte held back 10 s (a slow IdP)
    proxy.set_rate(4 << 20) # client-to-server bytes per second (a slow link: a transfer to interrupt)

    upstream = FaultyUpstream(ws).start()                     # a DICOMweb service that misbehaves
    upstream.mode = "stall-answer"                            # see MODES

Both run in threads of the test process (same network namespace), are started and stopped like the
other components (start/stop/terminate), and hold every socket they opened so stop() ends them all.
"""
import json
import select
import socket
import struct
import threading
import time

from .errors import HarnessError

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST instead of FIN


def reset(sock):
    """Close `sock` with a TCP reset (what a crashed peer or a middlebox dropping state looks like)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _listener(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    s.settimeout(0.2)
    return s


class TcpFaultProxy:
    """A TCP forwarder to 127.0.0.1:`target_port` that can go down, answer late, or slow a transfer.
    Thread-safe controls; connections are counted (`accepted`)."""

    def __init__(self, ws, target_port, name="fault-proxy"):
        self.name = ws.unique_name(name)
        self.port = ws.ports.allocate()
        self.target_port = target_port
        self.accepted = 0
        self._delay = 0.0
        self._rate = None
        self._lock = threading.Lock()
        self._conns = set()
        self._stop = threading.Event()
        self._listen = None
        self._thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    # -- controls --------------------------------------------------------------------------------

    def start(self):
        self._stop.clear()
        self.up()
        return self

    def up(self):
        """Accept connections again (same port)."""
        with self._lock:
            if self._listen is not None:
                return self
            self._listen = _listener(self.port)
            self._thread = threading.Thread(target=self._accept_loop, args=(self._listen,), daemon=True,
                                            name=f"{self.name}-accept")
            self._thread.start()
        return self

    def down(self):
        """Refuse new connections (the port is closed) and reset the open ones."""
        with self._lock:
            listen, self._listen = self._listen, None
            conns, self._conns = self._conns, set()
        if listen is not None:
            listen.close()
        for s in conns:
            reset(s)
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self

    @property
    def is_up(self):
        return self._listen is not None

    def set_delay(self, seconds):
        """Hold back every answer (its first bytes after a request went up) for `seconds` (0: none)."""
        self._delay = float(seconds)

    def set_rate(self, bytes_per_second):
        """Limit the client-to-server direction to about `bytes_per_second` per connection (None: no limit)."""
        self._rate = bytes_per_second

    def stop(self):
        self._stop.set()
        self.down()

    terminate = stop

    # -- forwarding ------------------------------------------------------------------------------

    def _accept_loop(self, listen):
        while not self._stop.is_set():
            try:
                client, _ = listen.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # closed by down()
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                reset(client)
                continue
            with self._lock:
                if self._listen is not listen:  # went down meanwhile
                    reset(client)
                    reset(server)
                    return
                self.accepted += 1
                self._conns.update((client, server))
            # One flag per connection: a request went up since the last answer (keep-alive
            # connections carry many exchanges; each answer is held back, not only the first).
            asked = threading.Event()
            threading.Thread(target=self._pump, args=(client, server, False, asked), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True, asked), daemon=True).start()

    def _pump(self, src, dst, answer, asked):
        started = time.monotonic()
        sent = 0
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([src], [], [], 0.2)
                if not ready:
                    continue
                data = src.recv(65536)
                if not data:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                if answer and asked.is_set():
                    asked.clear()
                    if self._delay > 0:
                        self._stop.wait(self._delay)
                if not answer:
                    asked.set()
                if not answer and self._rate:
                    sent += len(data)
                    ahead = sent / self._rate - (time.monotonic() - started)
                    if ahead > 0:
                        self._stop.wait(ahead)
                dst.sendall(data)
        except (OSError, ValueError):  # ValueError: down() closed the socket under select()
            pass
        finally:
            with self._lock:
                gone = [s for s in (src, dst) if s in self._conns]
                for s in gone:
                    self._conns.discard(s)
            for s in gone:
                reset(s) if self._stop.is_set() else _close_quietly(s)


def _close_quietly(sock):
    try:
        sock.close()
    except OSError:
        pass


# -- a DICOMweb upstream that misbehaves ------------------------------------------------------------

MODES = {
    "ok": "answers like a healthy DICOMweb service: QIDO a JSON list, STOW 200 once the body is read",
    "reset-body": "accepts the request (100 Continue), reads 64 KiB of the body, then resets the connection",
    "stall-body": "accepts the request (100 Continue), reads 64 KiB of the body, then stops reading",
    "reset-answer": "answers 200 and half of the body (JSON), or two of four parts (multipart), then resets",
    "stall-answer": "answers 200 and half of the body (JSON), or two of four parts (multipart), then goes silent",
    "stall-head": "reads the request and never answers",
    "busy": "answers 503 with Retry-After: 7 (before reading any body)",
    "throttled": "answers 429 with Retry-After: 11 (before reading any body)",
}


class FaultyUpstream:
    """A DICOMweb service on raw sockets whose behaviour is `mode` (one of MODES), applied to each new
    request. `requests` lists what arrived: dicts with method, path, mode, body_bytes, at. Stalled
    connections stay open until release() or stop()."""

    QIDO_STUDIES = 400       # JSON answer of about 100 KB: "half of it" is a real cut
    PART_BYTES = 256 * 1024  # multipart answers: four parts of this size

    def __init__(self, ws, name="faulty-upstream"):
        self.name = ws.unique_name(name)
        self.port = ws.ports.allocate()
        self.mode = "ok"
        self.requests = []
        self._lock = threading.Lock()
        self._conns = set()
        self._stop = threading.Event()
        self._release = threading.Event()
        self._listen = None
        self._thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self):
        return self.url + "/dicom-web"

    def start(self):
        if self.mode not in MODES:
            raise HarnessError("HAR-901", f"unknown fault mode {self.mode!r}; one of {sorted(MODES)}")
        self._stop.clear()
        self._listen = _listener(self.port)
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name=self.name)
        self._thread.start()
        return self

    def release(self):
        """Let stalled connections end (they are reset)."""
        self._release.set()
        time.sleep(0.3)
        self._release.clear()

    def stop(self):
        self._stop.set()
        self._release.set()
        if self._listen is not None:
            self._listen.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for s in conns:
            reset(s)

    terminate = stop

    def wait_requests(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise HarnessError("HAR-902", f"{self.name}: {count} request(s) expected, {len(self.requests)} arrived")

    # -- serving ---------------------------------------------------------------------------------

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listen.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(30)
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _hold(self):
        """A stall: wait until release() or stop()."""
        while not self._stop.is_set() and not self._release.is_set():
            self._release.wait(0.2)

    def _serve(self, conn):
        try:
            while not self._stop.is_set():
                head, rest = _read_head(conn)
                if head is None:
                    return
                if not self._one(conn, head, rest):
                    return
        except OSError:
            pass
        finally:
            with self._lock:
                known = conn in self._conns
                self._conns.discard(conn)
            if known:
                reset(conn)

    def _linger_close(self, conn, seconds=2.0):
        """Ends a connection whose request body was not read the way real servers do (nginx's
        lingering close, RFC 9112 section 9.6): FIN after the answer, then the body still in flight
        is read and dropped, so the client's kernel never turns it into a reset that destroys the
        answer before the client reads it. An abrupt close is the "reset" modes' job."""
        with self._lock:
            self._conns.discard(conn)
        try:
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(0.2)
            end = time.monotonic() + seconds
            while time.monotonic() < end and not self._stop.is_set():
                try:
                    if not conn.recv(65536):
                        break
                except socket.timeout:
                    continue
        except OSError:
            pass
        finally:
            conn.close()

    def _one(self, conn, head, rest):
        """Handles one request; False when the connection must end."""
        lines = head.decode("latin-1").split("\r\n")
        method, path = (lines[0].split(" ") + ["", ""])[:2]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        mode = self.mode
        record = {"method": method, "path": path, "mode": mode, "body_bytes": len(rest), "at": time.monotonic(),
                  "authorization": "authorization" in headers}
        with self._lock:
            self.requests.append(record)
        has_body = "content-length" in headers and headers["content-length"] != "0" or \
            headers.get("transfer-encoding", "").lower() == "chunked"

        if mode in ("busy", "throttled"):
            status, reason, after = (503, "Service Unavailable", "7") if mode == "busy" else (429, "Too Many Requests", "11")
            body = json.dumps({"error": reason}).encode()
            conn.sendall(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nRetry-After: {after}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            self._linger_close(conn)
            return False
        if mode == "stall-head":
            self._hold()
            return False

        if has_body:
            if headers.get("expect", "").lower() == "100-continue":
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            if mode in ("reset-body", "stall-body"):
                got = len(rest)
                while got < 64 * 1024:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return False
                    got += len(chunk)
                record["body_bytes"] = got
                if mode == "stall-body":
                    self._hold()
                return False  # reset (stall: after the hold)
            record["body_bytes"] = _drain_body(conn, headers, rest)

        multipart = "multipart/related" in headers.get("accept", "") and method == "GET"
        if method == "POST":
            body = json.dumps({"00081199": {"vr": "SQ", "Value": []}}).encode()
            ctype = "application/dicom+json"
        elif multipart:
            boundary = "fault-boundary"
            parts = [b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" +
                     bytes([i]) * self.PART_BYTES + b"\r\n" for i in range(4)]
            body = b"".join(parts) + b"--" + boundary.encode() + b"--\r\n"
            ctype = f'multipart/related; type="application/dicom"; boundary={boundary}'
        else:
            studies = [{"0020000D": {"vr": "UI", "Value": [f"1.2.3.{i}"]},
                        "00100020": {"vr": "LO", "Value": [f"FAULT-{i:06d}" + "x" * 160]}}
                       for i in range(self.QIDO_STUDIES)]
            body = json.dumps(studies).encode()
            ctype = "application/dicom+json"
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        if mode in ("reset-answer", "stall-answer"):
            cut = (2 * len(parts[0]) + len(parts[2]) // 2) if multipart else len(body) // 2
            conn.sendall(body[:cut])
            if mode == "stall-answer":
                self._hold()
            return False
        conn.sendall(body)
        return True


def _read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
        if len(data) > 65536:
            return None, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _drain_body(conn, headers, rest):
    """Reads the whole request body (Content-Length or chunked); returns its size."""
    if "content-length" in headers:
        need = int(headers["content-length"])
        got = len(rest)
        while got < need:
            chunk = conn.recv(min(65536, need - got))
            if not chunk:
                break
            got += len(chunk)
        return got
    buf, total = rest, 0
    while True:
        while b"\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return total
            buf += chunk
        line, _, buf = buf.partition(b"\r\n")
        size = int(line.split(b";")[0] or b"0", 16)
        while len(buf) < size + 2:
            chunk = conn.recv(65536)
            if not chunk:
                return total
            buf += chunk
        total += size
        buf = buf[size + 2:]
        if size == 0:
            # trailers end with an empty line; the chunk's CRLF already consumed one
            return total


# -- load with figures ----------------------------------------------------------------------------

class Load:
    """Operations run in loops by threads until stop(); each outcome is recorded with its start and
    end (monotonic) so that figures can be given per period (before, during, after a fault).

        load = Load()
        load.loop("qido/inj", lambda: check(orthanc.rest(...)))   # the function raises or returns an
        load.start(); ...; load.stop()                            # error text on failure, None if ok
        load.failures(), load.figures("qido/inj", since, until)
    """

    def __init__(self):
        self.records = []          # (op, started, ended, error or None)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    def loop(self, op, fn, pause=0.0):
        def run():
            while not self._stop.is_set():
                t0 = time.monotonic()
                try:
                    error = fn()
                except Exception as e:  # noqa: BLE001 (any exception is a failed operation)
                    error = f"{type(e).__name__}: {e}"
                with self._lock:
                    self.records.append((op, t0, time.monotonic(), error))
                if pause:
                    self._stop.wait(pause)
        self._threads.append(threading.Thread(target=run, daemon=True, name=op))

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self, timeout=120.0):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=timeout)

    def failures(self):
        with self._lock:
            return [r for r in self.records if r[3] is not None]

    def figures(self, op=None, since=None, until=None):
        """{count, failed, p50_ms, p99_ms, max_ms} of the operations (of `op`) that started in [since, until)."""
        with self._lock:
            rows = [r for r in self.records if (op is None or r[0] == op) and
                    (since is None or r[1] >= since) and (until is None or r[1] < until)]
        lat = sorted((r[2] - r[1]) * 1000 for r in rows) or [0.0]
        return {"count": len(rows), "failed": sum(1 for r in rows if r[3] is not None),
                "p50_ms": round(lat[len(lat) // 2]), "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))]),
                "max_ms": round(lat[-1])}

    def ops(self):
        with self._lock:
            return sorted({r[0] for r in self.records})

    def report(self, title, periods=()):
        """Printable figures: one line per operation, overall and per (name, since, until) period."""
        lines = [f"== {title}"]
        for op in self.ops():
            lines.append(f"  {op:14s} all     {self.figures(op)}")
            for name, since, until in periods:
                lines.append(f"  {op:14s} {name:7s} {self.figures(op, since, until)}")
        return "\n".join(lines)


def seconds_from_env(default):
    """Load duration of the fault tests: GW_FAULT_SECONDS when set (longer runs for the figures
    reported in docs), else the short CI default."""
    import os
    value = os.environ.get("GW_FAULT_SECONDS")
    return float(value) if value else float(default)


def stow_op(orthanc, server, tag, instances=2):
    """An operation for Load: a new small study uploaded to `orthanc`, sent with the DICOMweb plugin's
    STOW client job to `server`, checked (job Success), then deleted locally. Returns None or the error."""
    from .dicom import make_study
    counter = {"n": 0}

    def op():
        counter["n"] += 1
        study = make_study(instances, seed=counter["n"], rows=32, columns=32, patient_id=f"{tag}-{counter['n']}")
        ids = [orthanc.upload(d)["ID"] for d in study.instances]
        study_id = orthanc.get_json(f"/instances/{ids[0]}/study")["ID"]
        try:
            r = orthanc.rest("POST", f"/dicom-web/servers/{server}/stow",
                             json={"Resources": [study_id], "Synchronous": False})
            if r.status != 200:
                return f"stow {server}: HTTP {r.status} {r.text[:200]}"
            job = orthanc.wait_job(r.json()["ID"], timeout=120)
            if job["State"] != "Success":
                return f"stow {server}: job {job['State']}: {job.get('ErrorDescription')} {job.get('ErrorDetails', '')}"
            return None
        finally:
            orthanc.rest("DELETE", f"/studies/{study_id}")
    return op


def qido_op(orthanc, server, tag):
    """An operation for Load: a QIDO of `tag`'s studies through the DICOMweb plugin's client."""
    def op():
        r = orthanc.rest("POST", f"/dicom-web/servers/{server}/qido",
                         json={"Uri": "/studies", "Arguments": {"PatientID": f"{tag}-*", "limit": "5"}})
        if r.status != 200:
            return f"qido {server}: HTTP {r.status} {r.text[:200]}"
        return None
    return op
