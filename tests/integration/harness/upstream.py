"""The "cloud DICOMweb service": a second Orthanc with DICOMweb behind nginx that checks tokens.

    upstream = ProtectedDicomWeb(ws, idp=idp)          # auth="introspect" (default)
    upstream.start()
    upstream.dicomweb_url                              # what the gateway's DicomWeb server Url points at
    r = upstream.request("GET", "/dicom-web/studies", token=idp.issue_token("svc"))
    upstream.access_entries()                          # what went through: method, uri, status, auth

auth modes:
  "introspect"  every request's bearer token is checked with the IdP's RFC 7662 endpoint (njs in an
                auth_request location, nothing cached); 401 + WWW-Authenticate: Bearer otherwise;
                503 when the IdP cannot answer.
  "static"      only `static_token` is accepted (no IdP; for benchmarks).
  "none"        plain reverse proxy.
forward_authorization: Authorization value nginx sends to Orthanc B (default: none is forwarded).
required_audience: in introspect mode, the token's `aud` must contain it.
Requests and answers stream (proxy_request_buffering off, proxy_buffering off, no body size limit).
"""
import ssl

from .errors import HarnessError
from .http import bearer, multipart_related, parse_multipart, request
from .nginx import Nginx, quote
from .orthanc import DICOMWEB_PLUGIN, Orthanc
from .pki import Pki

AUTH_MODES = ("introspect", "static", "none")


class ProtectedDicomWeb:
    """Orthanc B + nginx in front of it. Not thread-safe."""

    def __init__(self, ws, idp=None, auth="introspect", static_token=None, forward_authorization=None,
                 required_audience=None, tls=False, pki=None, orthanc_config=None, name="upstream"):
        if auth not in AUTH_MODES:
            raise HarnessError("HAR-410", f"unknown auth mode {auth!r}; one of {AUTH_MODES}")
        if auth == "introspect" and idp is None:
            raise HarnessError("HAR-411", "auth='introspect' needs the IdentityProvider")
        if auth == "static" and not static_token:
            raise HarnessError("HAR-412", "auth='static' needs static_token")
        self.ws = ws
        self.name = ws.unique_name(name)
        self.idp = idp
        self.auth = auth
        self.static_token = static_token
        self.forward_authorization = forward_authorization
        self.required_audience = required_audience
        self.tls = tls
        self.pki = pki
        if tls and pki is None:
            self.pki = idp.pki if idp is not None else None
            if self.pki is None:
                self.pki = Pki(ws, name=f"{self.name}-pki")
        self.backend = Orthanc(ws, plugins=[DICOMWEB_PLUGIN], config=orthanc_config, name=f"{self.name}-orthanc",
                               dicom_server=False)
        self.port = ws.ports.allocate()
        self.nginx = None

    # -- configuration ---------------------------------------------------------------------------

    def _auth_location(self):
        if self.auth == "none":
            return ""
        lines = [f"set $gw_auth_mode {quote(self.auth)};"]
        if self.auth == "introspect":
            lines.append(self.idp.nginx_introspection_settings())
        else:
            lines.append('set $gw_introspection_url "";\nset $gw_introspection_auth "";')
        lines.append(f"set $gw_static_token {quote(self.static_token or '')};")
        lines.append(f"set $gw_required_audience {quote(self.required_audience or '')};")
        body = "\n      ".join("\n".join(lines).splitlines())
        return f"""
    location = /__gw_auth {{
      internal;
      {body}
      js_content gw_auth.check;
    }}
    location @gw_denied {{
      internal;
      add_header WWW-Authenticate $gw_www_authenticate always;
      add_header X-Gw-Request-Id $request_id always;
      default_type application/json;
      return 401 '{{"error":"invalid_token","error_description":"bearer token missing, inactive or revoked"}}';
    }}
    location @gw_auth_unavailable {{
      internal;
      add_header X-Gw-Request-Id $request_id always;
      default_type application/json;
      return 503 '{{"error":"temporarily_unavailable","error_description":"token introspection failed"}}';
    }}
"""

    def _servers(self):
        listen = f"listen 127.0.0.1:{self.port}" + (" ssl" if self.tls else "") + ";"
        tls_lines = ""
        if self.tls:
            cert = self.pki.server_cert(f"{self.name}-server")
            tls_lines = (f"ssl_certificate {cert.cert};\n    ssl_certificate_key {cert.key};\n"
                         f"    ssl_protocols TLSv1.2 TLSv1.3;")
        if self.auth == "none":
            guard = 'set $gw_auth "none";'
        else:
            guard = """auth_request /__gw_auth;
      auth_request_set $gw_auth $sent_http_x_gw_auth;
      auth_request_set $gw_www_authenticate $sent_http_x_gw_www_authenticate;
      error_page 401 = @gw_denied;
      error_page 500 = @gw_auth_unavailable;"""
        upstream_auth = quote(self.forward_authorization) if self.forward_authorization else '""'
        return f"""
  server {{
    {listen}
    {tls_lines}
    set $gw_auth "-";
    set $gw_www_authenticate "";
    client_max_body_size 0;
    proxy_http_version 1.1;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_read_timeout 900s;
    proxy_send_timeout 900s;
    {self._auth_location()}
    location / {{
      {guard}
      add_header X-Gw-Request-Id $request_id always;
      proxy_set_header Authorization {upstream_auth};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_pass http://127.0.0.1:{self.backend.http_port};
    }}
  }}
"""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self):
        self.backend.start()
        if self.nginx is None:
            self.nginx = Nginx(self.ws, f"{self.name}-nginx", self._servers(), ports=[self.port])
        self.nginx.start()
        return self

    def stop(self):
        if self.nginx is not None and self.nginx.running:
            self.nginx.stop()
        return self.backend.stop()

    def terminate(self):
        """Begin stopping without waiting (see process.stop_together)."""
        if self.nginx is not None:
            self.nginx.terminate()
        self.backend.terminate()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- URLs and calls --------------------------------------------------------------------------

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def dicomweb_url(self):
        """Base URL of the protected DICOMweb API (no trailing slash)."""
        return self.url + "/dicom-web"

    @property
    def ca_file(self):
        return self.pki.ca_file if self.tls else None

    def ssl_context(self):
        return ssl.create_default_context(cafile=str(self.pki.ca_file)) if self.tls else None

    def request(self, method, path, token=None, body=None, headers=None, timeout=120.0, chunked=False):
        """A request through nginx. token: bearer token to send (None: no Authorization header)."""
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = bearer(token)
        return request(method, self.url + path, body=body, headers=h, timeout=timeout,
                       ssl_context=self.ssl_context(), chunked=chunked)

    def qido(self, path, token=None):
        """GET /dicom-web/<path> (e.g. "studies?PatientID=x") with Accept: application/dicom+json."""
        return self.request("GET", "/dicom-web/" + path.lstrip("/"), token=token,
                            headers={"Accept": "application/dicom+json"})

    def stow(self, instances, token=None, study_uid=None, chunked=False):
        """STOW-RS of a list of DICOM files in one multipart request; returns the HttpResponse."""
        content_type, body = multipart_related(instances)
        path = "/dicom-web/studies" + (f"/{study_uid}" if study_uid else "")
        if chunked:
            step = 1 << 20
            body_iter = (body[i:i + step] for i in range(0, len(body), step))
            return self.request("POST", path, token=token, body=body_iter, chunked=True,
                                headers={"Content-Type": content_type, "Accept": "application/dicom+json"})
        return self.request("POST", path, token=token, body=body,
                            headers={"Content-Type": content_type, "Accept": "application/dicom+json"})

    def retrieve_study(self, study_uid, token=None):
        """WADO-RS retrieve of a whole study; returns the list of DICOM files (bytes)."""
        r = self.request("GET", f"/dicom-web/studies/{study_uid}", token=token,
                         headers={"Accept": 'multipart/related; type="application/dicom"'})
        if r.status != 200:
            raise HarnessError("HAR-413", f"WADO-RS retrieve of {study_uid}: {r.status} {r.text[:300]}")
        return [data for _, data in parse_multipart(r.headers.get("Content-Type"), r.body)]

    def access_entries(self):
        """Every request nginx handled, oldest first: dicts with method, uri, status, auth, sizes."""
        return self.nginx.access_entries() if self.nginx else []

    def log_mark(self):
        """Position in the access log; pass it to new_entries() after sending requests."""
        return len(self.access_entries())

    def new_entries(self, mark, min_count=1, timeout=5.0):
        """Access log entries after `mark`, waiting (bounded) until at least `min_count` are written.
        Take the mark while no request is in flight: a line is written just after its answer."""
        return self.nginx.new_entries(mark, min_count, timeout)

    def entry_for(self, response, timeout=5.0):
        """The access log entry of a response this harness received through nginx (exact match)."""
        return self.nginx.entry_for(response, timeout)

    def log_text(self):
        return self.backend.log_text()

