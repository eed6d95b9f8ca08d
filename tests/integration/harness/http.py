"""A small HTTP client for tests (http.client underneath) and multipart/related helpers.

request() returns an HttpResponse, a named tuple (status, headers, body) that tests may unpack,
with .json() and .text. Non-2xx statuses are returned, not raised: asserting on them is the point of
most tests. Connection failures raise OSError (ConnectionRefusedError...) as usual.
"""
import base64
import http.client
import json as jsonlib
import re
import ssl
import uuid
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit

from .errors import HarnessError


class HttpResponse(NamedTuple):
    status: int
    headers: http.client.HTTPMessage  # case-insensitive .get(); .get_all() for repeated headers
    body: bytes

    def json(self):
        return jsonlib.loads(self.body.decode("utf-8"))

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def __repr__(self):
        preview = self.body[:300].decode("utf-8", errors="replace")
        return f"HttpResponse(status={self.status}, body={preview!r})"


def basic_auth(user, password):
    """Value of an Authorization header for HTTP Basic."""
    raw = f"{user}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def bearer(token):
    return f"Bearer {token}"


def request(method, url, body=None, json=None, form=None, headers=None, timeout=60.0,
            ssl_context=None, chunked=False):
    """Send one request and read the whole answer.

    body: bytes/str, or an iterable of bytes with chunked=True (Transfer-Encoding: chunked).
    json: serialised with Content-Type application/json. form: dict sent as
    application/x-www-form-urlencoded. ssl_context: for https URLs (CA bundle, client certificate).
    """
    headers = dict(headers or {})
    if json is not None:
        body = jsonlib.dumps(json).encode()
        headers.setdefault("Content-Type", "application/json")
    elif form is not None:
        body = urlencode(form).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    if isinstance(body, str):
        body = body.encode()

    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout,
                                           context=ssl_context or ssl.create_default_context())
    elif parts.scheme == "http":
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    else:
        raise HarnessError("HAR-010", f"unsupported URL scheme in {url!r}")
    try:
        conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        resp = conn.getresponse()
        data = resp.read()
        return HttpResponse(resp.status, resp.headers, data)
    finally:
        conn.close()


def try_request(method, url, **kwargs):
    """request(), or None when the server cannot be reached (for readiness polling)."""
    try:
        return request(method, url, **kwargs)
    except (OSError, http.client.HTTPException):
        return None


# -- multipart/related (DICOMweb STOW-RS requests and WADO-RS answers) --------------------------

def multipart_related(parts, part_type="application/dicom"):
    """Encode `parts` (list of bytes) as multipart/related; returns (content_type, body)."""
    boundary = "gw-" + uuid.uuid4().hex
    chunks = []
    for data in parts:
        chunks.append(f"--{boundary}\r\nContent-Type: {part_type}\r\n"
                      f"Content-Length: {len(data)}\r\n\r\n".encode())
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    content_type = f'multipart/related; type="{part_type}"; boundary={boundary}'
    return content_type, b"".join(chunks)


def _boundary_of(content_type):
    m = re.search(r'boundary="?([^";]+)"?', content_type or "", re.IGNORECASE)
    if not m:
        raise HarnessError("HAR-011", f"no multipart boundary in Content-Type {content_type!r}")
    return m.group(1).strip()


def parse_multipart(content_type, body):
    """Split a multipart body into a list of (headers dict with lower-case names, bytes)."""
    boundary = _boundary_of(content_type).encode()
    delimiter = b"--" + boundary
    result = []
    pos = body.find(delimiter)
    if pos < 0:
        raise HarnessError("HAR-012", "multipart body does not contain its boundary")
    while True:
        pos += len(delimiter)
        if body[pos:pos + 2] == b"--":
            break
        if body[pos:pos + 2] == b"\r\n":
            pos += 2
        header_end = body.find(b"\r\n\r\n", pos)
        if header_end < 0:
            raise HarnessError("HAR-013", "truncated multipart part headers")
        headers = {}
        for line in body[pos:header_end].split(b"\r\n"):
            if b":" in line:
                k, v = line.split(b":", 1)
                headers[k.strip().lower().decode()] = v.strip().decode()
        start = header_end + 4
        if "content-length" in headers:
            end = start + int(headers["content-length"])
            nxt = body.find(delimiter, end)
        else:
            nxt = body.find(b"\r\n" + delimiter, start)
            end = nxt
            nxt = nxt + 2 if nxt >= 0 else nxt
        if nxt < 0:
            raise HarnessError("HAR-014", "multipart part is not terminated by a boundary")
        result.append((headers, body[start:end]))
        pos = nxt
    return result
