"""Throwaway certificates and keys made with the openssl CLI.

Pki(ws) creates a CA; server_cert() issues a server certificate for 127.0.0.1/localhost (nginx in
front of the IdP or of the protected DICOMweb service), client_cert() a CA-signed client certificate
(RFC 8705 tls_client_auth), self_signed_cert() a certificate nobody signed
(self_signed_tls_client_auth), key_pair() a bare RSA or EC key pair (private_key_jwt). Nothing here
is valid for more than two days.
"""
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import env
from .errors import HarnessError


@dataclass(frozen=True)
class CertPair:
    cert: Path        # PEM certificate
    key: Path         # PEM private key (unencrypted)
    subject: str      # RFC 4514-style subject, e.g. "CN=gw-client"

    def cert_pem(self):
        return self.cert.read_text()


@dataclass(frozen=True)
class KeyPair:
    private: Path     # PEM PKCS#8 private key
    public: Path      # PEM SubjectPublicKeyInfo
    kind: str         # "rsa" or "ec"

    def public_pem(self):
        return self.public.read_text()


def openssl(*args, cwd=None):
    """Run the openssl CLI; raises HAR-701 with its stderr on failure."""
    proc = subprocess.run([env.OPENSSL_BIN, *map(str, args)], cwd=cwd, capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise HarnessError("HAR-701", f"openssl {args[0]} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def _keygen(path, kind):
    if kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    elif kind == "ec":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    else:
        raise HarnessError("HAR-702", f"unknown key kind {kind!r} (rsa or ec)")
    path.chmod(0o600)


class Pki:
    """A CA in its own workspace directory. Not thread-safe."""

    def __init__(self, ws, name="pki", ca_cn="GW Test CA"):
        self.dir = ws.dir(name)
        self.ca = self._make_ca(ca_cn)

    def _make_ca(self, cn):
        key = self.dir / "ca.key"
        cert = self.dir / "ca.crt"
        _keygen(key, "rsa")
        openssl("req", "-x509", "-new", "-key", key, "-out", cert, "-days", "2", "-subj", f"/CN={cn}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return CertPair(cert, key, f"CN={cn}")

    @property
    def ca_file(self):
        """PEM file with the CA certificate (a CA bundle for clients)."""
        return self.ca.cert

    def _issue(self, name, cn, extensions, kind, days):
        key = self.dir / f"{name}.key"
        cert = self.dir / f"{name}.crt"
        if cert.exists():
            raise HarnessError("HAR-703", f"certificate {name!r} already exists in {self.dir}")
        _keygen(key, kind)
        args = ["req", "-new", "-key", key, "-out", cert, "-days", str(days), "-subj", f"/CN={cn}",
                "-CA", self.ca.cert, "-CAkey", self.ca.key]
        for ext in extensions:
            args += ["-addext", ext]
        openssl(*args)
        return CertPair(cert, key, f"CN={cn}")

    def server_cert(self, name="server", dns=("localhost",), ips=("127.0.0.1",), kind="rsa", days=2):
        """Server certificate signed by the CA, valid for the given DNS names and IP addresses."""
        san = ",".join([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips])
        return self._issue(name, dns[0] if dns else ips[0],
                           [f"subjectAltName={san}", "extendedKeyUsage=serverAuth",
                            "basicConstraints=critical,CA:FALSE"], kind, days)

    def client_cert(self, name, cn=None, dns=None, kind="rsa", days=2):
        """Client certificate signed by the CA (tls_client_auth); subject CN defaults to `name`."""
        ext = ["extendedKeyUsage=clientAuth", "basicConstraints=critical,CA:FALSE"]
        if dns:
            ext.append("subjectAltName=" + ",".join(f"DNS:{d}" for d in dns))
        return self._issue(name, cn or name, ext, kind, days)

    def self_signed_cert(self, name, cn=None, kind="rsa", days=2):
        """Self-signed client certificate (self_signed_tls_client_auth)."""
        key = self.dir / f"{name}.key"
        cert = self.dir / f"{name}.crt"
        _keygen(key, kind)
        openssl("req", "-x509", "-new", "-key", key, "-out", cert, "-days", str(days),
                "-subj", f"/CN={cn or name}", "-addext", "extendedKeyUsage=clientAuth")
        return CertPair(cert, key, f"CN={cn or name}")

    def key_pair(self, name, kind="rsa"):
        """A bare key pair (private_key_jwt)."""
        private = self.dir / f"{name}.key"
        public = self.dir / f"{name}.pub"
        _keygen(private, kind)
        openssl("pkey", "-in", private, "-pubout", "-out", public)
        return KeyPair(private, public, kind)

    def bundle(self, name, *pems):
        """Concatenate PEM files (e.g. two CAs) into one bundle file."""
        path = self.dir / name
        path.write_text("".join(Path(p).read_text() for p in pems))
        return path
