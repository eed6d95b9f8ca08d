"""Helpers shared by the tests of our plugin: an Orthanc with the gateway, script folders, scans.

    orthanc = gateway_orthanc(ws, servers={"cloud": {...}}, scripts=copy_scripts(ws))
"""
import shutil

from harness import DICOMWEB_PLUGIN, Orthanc, env, wait_until


def copy_scripts(ws, name="lua"):
    """A private copy of the repository's lua/ folder that a test may edit (hot reload)."""
    target = ws.path / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(env.SOURCE_DIR / "lua", target)
    return target


def gateway_orthanc(ws, servers=None, scripts=None, section=None, config=None, env_vars=None,
                    name="orthanc-a", dicomweb=None, **kwargs):
    """Orthanc with the DICOMweb plugin and ours, and a DicomWebOAuth section built from `servers`
    (name -> server object) plus `section` (extra global keys). `scripts` defaults to the
    repository's lua/ folder."""
    oauth = {"Servers": servers or {},
             "ScriptDirectories": [str(scripts or env.SOURCE_DIR / "lua")]}
    oauth.update(section or {})
    cfg = {"DicomWebOAuth": oauth}
    cfg.update(config or {})
    return Orthanc(ws, plugins=[DICOMWEB_PLUGIN, env.plugin_path()], config=cfg, env=env_vars,
                   name=name, dicomweb=dicomweb, **kwargs)


def oauth_server(idp, url, secret, mode="proxy", client="orthanc-a", orthanc_user=None, **over):
    """A DicomWebOAuth server for the test IdP's client-credentials client `client`. In proxy mode,
    `orthanc_user` (user, password) is the Orthanc user of the DICOMweb plugin's loopback calls to the
    route (needed under AuthenticationEnabled)."""
    s = {"Url": url, "TokenEndpoint": idp.token_url(), "ClientId": client, "ClientSecret": secret,
         "Scope": "dicomweb", "Resource": "urn:gw-test:dicomweb", "Mode": mode}
    if mode == "proxy" and orthanc_user:
        s.update({"Username": orthanc_user[0], "Password": orthanc_user[1]})
    s.update(over)
    return s


def assert_no_secret(test, secrets, *texts):
    """Fails if any secret appears in any of the texts (logs, bodies, status pages)."""
    for text in texts:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for secret in secrets:
            if secret and secret in text:
                test.fail(f"secret value {secret[:3]}... leaked into output:\n"
                          f"{text[max(0, text.find(secret) - 200):text.find(secret) + 50]}")


class InProcessServer:
    """An HTTP server in a thread of the test process (same network namespace), for the small fakes a
    test needs (a sink, a broken upstream, a token service). Subclasses give `Handler`, a
    BaseHTTPRequestHandler class; it reaches the fake through `self.server.owner`.

        class Sink(InProcessServer):
            class Handler(QuietHandler):
                def do_POST(self): ...
        sink = self.use(Sink(self.ws))
    """

    Handler = None

    def __init__(self, ws):
        import http.server
        import threading
        self.port = ws.ports.allocate()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self.Handler)
        self.server.owner = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    terminate = stop


def _quiet_handler():
    import http.server

    class QuietHandler(http.server.BaseHTTPRequestHandler):
        """HTTP/1.1 keep-alive, no access lines on stderr, and a helper to answer with a body."""
        protocol_version = "HTTP/1.1"

        def answer(self, status, body, content_type="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    return QuietHandler


QuietHandler = _quiet_handler()


def rss_bytes(pid):
    """Resident memory of a process (VmRSS), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# -- proxy mode ---------------------------------------------------------------------------------

LOOPBACK_SECRET_HEADER = "X-DicomWeb-OAuth-Gateway"


class LoopbackSecretCapture:
    """Learns the per-start loopback secrets of a gateway Orthanc the way an Orthanc administrator
    could: an Orthanc Lua IncomingHttpRequestFilter (it sees the loopback requests of the DICOMweb
    plugin, headers included) writes each server's secret header into a file of the workspace.
    Tests need the secret to send requests straight to /oauth-dicom-web/servers/{name}/ (path
    attacks past the secret check, a 409 with its body, DELETE).

        capture = LoopbackSecretCapture(ws)
        orthanc = gateway_orthanc(ws, ..., config=capture.config())
        secret = capture.secret(orthanc, "cloud")      # triggers one QIDO through the route
    """

    def __init__(self, ws):
        self.dir = ws.dir("loopback-secrets")
        self.script = self.dir / "capture.lua"
        target = str(self.dir).replace("\\", "\\\\").replace("'", "\\'")
        self.script.write_text(
            "function IncomingHttpRequestFilter(method, uri, ip, username, httpHeaders)\n"
            "  local value = httpHeaders['x-dicomweb-oauth-gateway']\n"
            "  local server = string.match(uri, '^/oauth%-dicom%-web/servers/([%w%._%-]+)/')\n"
            "  if value ~= nil and server ~= nil then\n"
            f"    local f = io.open('{target}/' .. server, 'w')\n"
            "    if f ~= nil then f:write(value) f:close() end\n"
            "  end\n"
            "  return true\n"
            "end\n")

    def config(self):
        return {"LuaScripts": [str(self.script)]}

    def secret(self, orthanc, server, timeout=20.0):
        """The secret of `server`: sends QIDOs through the DICOMweb plugin until one has gone through
        the route (the definitions are written once Orthanc has started, just after /system answers)."""
        path = self.dir / server

        def captured():
            if not path.exists():
                orthanc.rest("POST", f"/dicom-web/servers/{server}/qido",
                             json={"Uri": "/studies", "Arguments": {"limit": "1"}})
            return path.exists() and path.read_text()
        return wait_until(captured, timeout, f"the loopback secret of {server} to be captured", interval=0.2)


def wait_proxy_definition(orthanc, server, timeout=15.0):
    """Waits until the gateway has written the loopback definition of `server`; returns it (expand form)."""
    def written():
        found = orthanc.get_json("/dicom-web/servers?expand").get(server)
        return found if found and "/oauth-dicom-web/servers/" in found.get("Url", "") and \
            LOOPBACK_SECRET_HEADER in found.get("HttpHeaders", []) else None
    return wait_until(written, timeout, f"the loopback definition of {server}", interval=0.1)


def raw_http(port, head, body=b"", timeout=30.0):
    """Sends bytes exactly as given (no client-side URL normalisation or validation: attack strings
    reach the server unchanged) and returns (status, headers dict with lower-case names, body).
    `head` is the request line and headers, ending with the blank line."""
    import socket
    data = head.encode("latin-1") if isinstance(head, str) else head
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data + body)
        received = b""

        def more():
            nonlocal received
            chunk = s.recv(65536)
            received += chunk
            return bool(chunk)

        while b"\r\n\r\n" not in received:
            if not more():
                return 0, {}, received
        header_end = received.find(b"\r\n\r\n")
        lines = received[:header_end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        start = header_end + 4
        if "content-length" in headers:
            while len(received) - start < int(headers["content-length"]):
                if not more():
                    break
            return status, headers, received[start:start + int(headers["content-length"])]
        if headers.get("transfer-encoding", "").lower() == "chunked":
            decoded, pos = b"", start
            while True:
                while received.find(b"\r\n", pos) < 0:
                    if not more():
                        return status, headers, decoded
                eol = received.find(b"\r\n", pos)
                size = int(received[pos:eol].split(b";")[0] or b"0", 16)
                if size == 0:
                    return status, headers, decoded
                while len(received) < eol + 2 + size + 2:
                    if not more():
                        return status, headers, decoded + received[eol + 2:]
                decoded += received[eol + 2:eol + 2 + size]
                pos = eol + 2 + size + 2
        while more():
            pass
        return status, headers, received[start:]


def proxy_request(orthanc, server, method, tail, secret=None, headers=None, body=None, chunked=False,
                  timeout=120.0):
    """A request straight to the proxy route of `orthanc` (the way the DICOMweb plugin sends them),
    with the loopback secret header when `secret` is given. Returns an HttpResponse."""
    h = dict(headers or {})
    if secret is not None:
        h[LOOPBACK_SECRET_HEADER] = secret
    return orthanc.rest(method, f"/oauth-dicom-web/servers/{server}/{tail}", body=body, headers=h,
                        timeout=timeout, chunked=chunked)
