"""JWTs for tests without third-party packages: HS256 with hmac, RS256/PS256/ES256 with openssl.

client_assertion() builds the RFC 7523 assertion of client_secret_jwt / private_key_jwt requests.
verify() checks an IdP-signed JWT (e.g. a JWT access token) against a JWKS, converting the JWK to a
PEM public key with a few lines of DER.
"""
import base64
import hashlib
import hmac
import json
import tempfile
import time
import uuid
from pathlib import Path

from .errors import HarnessError
from .pki import openssl


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    text = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text.encode("ascii"))


def decode(token):
    """(header, payload) of a compact JWS, without verifying anything."""
    try:
        h, p, _ = token.split(".")
        return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))
    except (ValueError, json.JSONDecodeError) as err:
        raise HarnessError("HAR-320", f"not a compact JWT: {err}") from err


# -- DER helpers (ECDSA signature conversion, JWK -> SubjectPublicKeyInfo) ----------------------

def _der_len(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag, content):
    return bytes([tag]) + _der_len(len(content)) + content


def _der_int(value):
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return _der(0x02, body)


def _read_tlv(data, pos):
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    return tag, data[pos:pos + length], pos + length


def _ecdsa_der_to_raw(sig, size=32):
    _, seq, _ = _read_tlv(sig, 0)
    _, r, pos = _read_tlv(seq, 0)
    _, s, _ = _read_tlv(seq, pos)
    return int.from_bytes(r, "big").to_bytes(size, "big") + int.from_bytes(s, "big").to_bytes(size, "big")


def _ecdsa_raw_to_der(raw):
    half = len(raw) // 2
    r = int.from_bytes(raw[:half], "big")
    s = int.from_bytes(raw[half:], "big")
    return _der(0x30, _der_int(r) + _der_int(s))


_RSA_OID = bytes.fromhex("06092a864886f70d0101010500")              # rsaEncryption, NULL
_EC_P256_OID = bytes.fromhex("06072a8648ce3d020106082a8648ce3d030107")  # id-ecPublicKey, prime256v1


def jwk_to_pem(jwk):
    """PEM SubjectPublicKeyInfo of an RSA or EC P-256 JWK (public members only are used)."""
    if jwk.get("kty") == "RSA":
        n = int.from_bytes(b64url_decode(jwk["n"]), "big")
        e = int.from_bytes(b64url_decode(jwk["e"]), "big")
        key = _der(0x30, _der_int(n) + _der_int(e))
        spki = _der(0x30, _der(0x30, _RSA_OID) + _der(0x03, b"\x00" + key))
    elif jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        point = b"\x04" + b64url_decode(jwk["x"]) + b64url_decode(jwk["y"])
        spki = _der(0x30, _der(0x30, _EC_P256_OID) + _der(0x03, b"\x00" + point))
    else:
        raise HarnessError("HAR-321", f"unsupported JWK kty={jwk.get('kty')} crv={jwk.get('crv')}")
    body = base64.encodebytes(spki).decode("ascii").replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


# -- signing and verifying ----------------------------------------------------------------------

_DIGEST_OPTS = {
    "RS256": [],
    "PS256": ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"],
    "ES256": [],
}


def sign(payload, alg, key=None, secret=None, kid=None, typ="JWT"):
    """Compact JWS of `payload` (dict). HS256 uses `secret`; RS256/PS256/ES256 use the PEM `key` path."""
    header = {"alg": alg, "typ": typ}
    if kid:
        header["kid"] = kid
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(payload, separators=(",", ":")).encode())).encode()
    if alg == "HS256":
        if secret is None:
            raise HarnessError("HAR-322", "HS256 needs a secret")
        sig = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    elif alg in _DIGEST_OPTS:
        if key is None:
            raise HarnessError("HAR-322", f"{alg} needs a private key file")
        with tempfile.NamedTemporaryFile() as data:
            data.write(signing_input)
            data.flush()
            sig = openssl("dgst", "-sha256", "-sign", key, *_DIGEST_OPTS[alg], data.name)
        if alg == "ES256":
            sig = _ecdsa_der_to_raw(sig)
    else:
        raise HarnessError("HAR-323", f"unsupported alg {alg}")
    return signing_input.decode() + "." + b64url(sig)


def client_assertion(client_id, audience, alg, key=None, secret=None, lifetime=60, kid=None):
    """RFC 7523 client assertion: iss = sub = client_id, aud = token endpoint (or issuer)."""
    now = int(time.time())
    payload = {"iss": client_id, "sub": client_id, "aud": audience, "jti": uuid.uuid4().hex,
               "iat": now, "exp": now + lifetime}
    return sign(payload, alg, key=key, secret=secret, kid=kid)


def verify(token, jwks):
    """Verify a compact JWS against a JWKS dict; returns the payload or raises HAR-324.

    Checks the signature only (RS256, PS256, ES256 with the JWK selected by kid); claims are the
    caller's business.
    """
    header, payload = decode(token)
    keys = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
    if not keys:
        raise HarnessError("HAR-324", f"no JWK with kid {header.get('kid')!r}")
    alg = header.get("alg")
    if alg not in _DIGEST_OPTS:
        raise HarnessError("HAR-324", f"unsupported alg {alg!r}")
    h, p, s = token.split(".")
    sig = b64url_decode(s)
    if alg == "ES256":
        sig = _ecdsa_raw_to_der(sig)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "key.pem").write_text(jwk_to_pem(keys[0]))
        (tmp / "data").write_bytes(f"{h}.{p}".encode())
        (tmp / "sig").write_bytes(sig)
        try:
            openssl("dgst", "-sha256", "-verify", tmp / "key.pem", *_DIGEST_OPTS[alg],
                    "-signature", tmp / "sig", tmp / "data")
        except HarnessError as err:
            raise HarnessError("HAR-324", "JWT signature does not verify") from err
    return payload
