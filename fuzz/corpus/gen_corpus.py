#!/usr/bin/env python3
"""Writes the seed inputs of fuzz/corpus/<target>/seed-* (run from anywhere; needs openssl).

The seeds are starting points for libFuzzer: well-formed inputs of each parser (so the fuzzer starts
deep inside the format) and a few known-hostile ones. Inputs that once found a defect are kept in
the same folders as regress-* files, written by hand, never by this script.
Layout of each target's input: see the comment at the top of fuzz/fuzz_<target>.cpp.
"""
import base64
import glob
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
CRYPTO = os.path.join(ROOT, "tests", "fixtures", "crypto")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


# ---- json / lua_json --------------------------------------------------------------------------
JSON_TEXTS = {
    "object": '{"access_token":"abc","token_type":"Bearer","expires_in":3599,"scope":"a b"}',
    "nested": '{"a":[1,2,{"b":null,"c":[true,false]}],"d":{"e":{"f":{}}}}',
    "numbers": '[0,-0,1e308,-1.5e-308,9223372036854775807,-9223372036854775808,18446744073709551615,0.1]',
    "strings": '["\\u00e9\\ud83d\\ude00","\\"\\\\\\/\\b\\f\\n\\r\\t","caf\xc3\xa9",""]',
    "duplicates": '{"a":1,"a":2,"b":{"a":3}}',
    "deep": "[" * 70 + "]" * 70,
    "array": "[null,[],{},[[]],[{}]]",
}
for name, text in JSON_TEXTS.items():
    write("lua_json", name, text)
    write("json", name, b"\x00" + text.encode())
write("json", "comments", b"\x01" + b'{ // a comment\n "a": [1, 2, ], /* more */ "b": 2, }')
write("json", "trailing", b"\x02" + b'{"a":1} trailing text')
write("json", "depth-bound", b"\x08" + b"[[[[[1]]]]]")
write("json", "size-bound", b"\x10" + b'{"a":"' + b"x" * 80 + b'"}')

# ---- config -----------------------------------------------------------------------------------
for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*", "*.json")) +
                   glob.glob(os.path.join(ROOT, "tests", "fixtures", "config", "python", "*.json"))):
    rel = os.path.relpath(path, ROOT).replace("/", "_")
    shutil.copyfile(path, os.path.join(CORPUS, "config", "seed-" + rel))
write("config", "variables", """{
  // ${SET} in a comment
  "DicomWebOAuth": {
    "Servers": {
      "s": { "Url": "${SET}", "TokenEndpoint": "${UNSET:-https://idp.example/t}",
             "ClientId": "${EMPTY}", "ClientSecret": "${QUOTE}", "Scope": "${X:-'a b'}",
             "Port": ${PORT:-"8042"} }
    }
  }
}""")

# ---- jwt --------------------------------------------------------------------------------------
SECRET = b"fuzz-hs256-secret-0123456789abcdef"  # fuzz_jwt.cpp kSecret


def jws(header, claims, sign):
    signing_input = b64u(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64u(json.dumps(claims, separators=(",", ":")).encode())
    return signing_input + "." + b64u(sign(signing_input.encode()))


def hs256(data):
    return hmac.new(SECRET, data, hashlib.sha256).digest()


def rs256(data):
    return openssl("dgst", "-sha256", "-sign", os.path.join(CRYPTO, "rsa-pkcs8.pem"), data=data)


def der_ints(der):
    # ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } -> (r, s)
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = []
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out.append(int.from_bytes(der[i + 2:i + 2 + n], "big"))
        i += 2 + n
    return out


def es256(data):
    r, s = der_ints(openssl("dgst", "-sha256", "-sign", os.path.join(CRYPTO, "ec-pkcs8.pem"), data=data))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


CLAIMS = {"iss": "https://idp.example", "aud": ["dicomweb", "x"], "sub": "client", "exp": 1700000600,
          "nbf": 1699999000, "iat": 1699999990}
write("jwt", "hs256", jws({"alg": "HS256", "typ": "JWT"}, CLAIMS, hs256))
write("jwt", "rs256", jws({"alg": "RS256", "kid": "rsa"}, CLAIMS, rs256))
write("jwt", "es256", jws({"alg": "ES256", "kid": "ec"}, dict(CLAIMS, aud="dicomweb"), es256))
write("jwt", "none", jws({"alg": "none"}, CLAIMS, lambda d: b""))
write("jwt", "crit", jws({"alg": "HS256", "crit": ["exp"]}, CLAIMS, hs256))
write("jwt", "confusion", jws({"alg": "HS256", "kid": "rsa"}, CLAIMS,
                              lambda d: hmac.new(open(os.path.join(CRYPTO, "rsa-public.pem"), "rb").read(), d,
                                                 hashlib.sha256).digest()))
write("jwt", "base64", "SGVsbG8sIHdvcmxkIQ==")
write("jwt", "hex", "00ffA0b1")

# ---- jwks -------------------------------------------------------------------------------------
modulus = openssl("rsa", "-pubin", "-in", os.path.join(CRYPTO, "rsa-public.pem"), "-noout", "-modulus")
n = bytes.fromhex(modulus.decode().strip().split("=", 1)[1])
ec_text = openssl("ec", "-pubin", "-in", os.path.join(CRYPTO, "ec-public.pem"), "-noout", "-text").decode()
point = bytes.fromhex("".join(re.findall(r"^\s+([0-9a-f:]+)$", ec_text, re.M)).replace(":", ""))
assert point[0] == 4 and len(point) == 65
rsa_jwk = {"kty": "RSA", "kid": "rsa", "use": "sig", "alg": "RS256", "n": b64u(n), "e": "AQAB"}
ec_jwk = {"kty": "EC", "kid": "ec", "crv": "P-256", "x": b64u(point[1:33]), "y": b64u(point[33:])}
write("jwks", "both", json.dumps({"keys": [rsa_jwk, ec_jwk]}))
write("jwks", "ec-only", json.dumps({"keys": [ec_jwk]}))
write("jwks", "mixed", json.dumps({"keys": [
    {"kty": "oct", "k": "c2VjcmV0"}, dict(ec_jwk, use="enc"), dict(ec_jwk, crv="P-384"),
    dict(ec_jwk, kid="other"), {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
    dict(rsa_jwk, e="AAEAAQ"), dict(ec_jwk, alg="RS256")]}))

# ---- multipart --------------------------------------------------------------------------------
CT = b'multipart/related; type="application/dicom"; boundary=frontier\n'
PARTS = (b"preamble\r\n--frontier\r\nContent-Type: application/dicom\r\nContent-Location: /a\r\n\r\n"
         b"DICM-body-1\r\n--frontier  \t\r\nContent-Type: application/octet-stream\r\n\r\n\r\n--frontier\r\n\r\n"
         b"no headers\r\n--frontier--\r\nepilogue")
write("multipart", "related", b"\x01\x07\x00" + CT + PARTS)
write("multipart", "tiny-pieces", b"\x01\x00\x00" + CT + PARTS)
write("multipart", "limits", b"\x01\x03\x03" + CT + PARTS)
write("multipart", "quoted", b'\x00\x05\x00multipart/related; boundary="b"; type=application/dicom\n'
      b"--b\r\nContent-Type: a\r\n folded\r\n\r\nx\r\n--b--")
write("multipart", "unterminated", b"\x02\x09\x00multipart/mixed;boundary=--\n----\r\n\r\nbody\r\n---")
# Parts with Content-Length: honest, shorter and longer than the part, the delimiter inside a body
# with an honest length, a length past the end of the answer, non-numeric and repeated lengths.
write("multipart", "lengths", b"\x01\x05\x00" + CT +
      b"--frontier\r\nContent-Length: 4\r\n\r\nabcd\r\n--frontier\r\nContent-Length: 2\r\n\r\nxyz\r\n"
      b"--frontier\r\nContent-Length: 9\r\n\r\nuvw\r\n--frontier\r\ncontent-length: 17\r\n\r\n"
      b"a\r\n--frontier\r\nb:c\r\n--frontier\r\nContent-Length: -1\r\nContent-Length: 0x1\r\n\r\nq\r\n"
      b"--frontier\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nend\r\n--frontier\r\n"
      b"Content-Length: 99999\r\n\r\nlast\r\n--frontier--")
write("multipart", "lengths-limit", b"\x01\x02\x01" + CT +
      b"--frontier\r\nContent-Length: 70\r\n\r\n" + b"p" * 70 + b"\r\n--frontier\r\nContent-Length: 40\r\n\r\n" +
      b"q" * 60 + b"\r\n--frontier--")

# ---- upstream_url -----------------------------------------------------------------------------
for name, lines in {
    "study": ["https://dicom.example/v1/dicomweb", "studies/1.2.3/series/4.5/instances/6.7/frames/1,2",
              "includefield=00100010&limit=10", "PatientID=a b", "fuzzymatching=true"],
    "dots": ["http://127.0.0.1:8042/", "studies/../../admin", "a=%2e%2e", "x=\r\n"],
    "encoded": ["https://host.example:8443/base/", "studies/%2e%2e/x", "q=%0d%0a", "k=%00"],
    "uri": ["https://h/", "/dicom-web/servers/x/get/", "/dicom-web/"],
    "uri-spelling": ["https://h/", "/dicom-web/servers/%78/stow", "/DICOM-WEB/"],
    "userinfo": ["https://user:pw@host/", "studies", ""],
    "ipv6": ["http://[::1]:80/x", "studies", "a=1&b=2&c"],
}.items():
    write("upstream_url", name, "\n".join(lines))

# ---- headers ----------------------------------------------------------------------------------
write("headers", "response", "Content-Type: multipart/related; boundary=x\r\nLocation: /a\r\n"
      "Set-Cookie: s=1\r\nWWW-Authenticate: Bearer realm=\"x\"\r\n  folded\r\nRetry-After: 5\r\n\r\n")
write("headers", "request", "Accept: application/dicom+json\r\nAuthorization: Bearer x\r\n"
      "X-HTTP-Method-Override: DELETE\r\nTransfer-Encoding: chunked\r\n_method\r\nX-Method-Override:put\r\n")
write("headers", "smuggle", b"Location: /a\rX-Injected: 1\r\nETag: \"a\x00b\"\r\n\tLink: <x>\r\n:no-name\r\n")

# ---- redis ------------------------------------------------------------------------------------
write("redis", "record", b"\x00" + json.dumps({
    "access_token": "tok", "token_type": "Bearer", "expires_at_ms": 1704070800000,
    "refresh_at_ms": 1704070500000, "scopes": ["a", "b"], "provider": "p", "metadata": {"k": "v"}}).encode())
write("redis", "record-minimal", b'\x00{"access_token":"t","expires_at_ms":0}')
write("redis", "replies", b"\x01+OK\r\n$5\r\nhello\r\n$-1\r\n:42\r\n-ERR no\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n")
write("redis", "url-tcp", b"\x02redis://user:pw@redis.example:6380/2")
write("redis", "url-unix", b"\x02unix:///run/redis/redis.sock?db=3")

# ---- audit ------------------------------------------------------------------------------------
for path in sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "audit", "*.jsonl"))):
    name = os.path.basename(path)
    flags = b"\x07" if name.startswith("keyed") else b"\x00"
    write("audit", name, flags + open(path, "rb").read())
write("audit", "checkpoints", b"\x01" + open(os.path.join(ROOT, "tests", "fixtures", "audit", "keyed-checkpoints.log"),
                                              "rb").read())

# ---- sigv4 ------------------------------------------------------------------------------------
# FuzzedDataProvider input: strings from the front, choices from the back.
write("sigv4", "plain", b"us-east-1\\\x00/studies/1.2.3?limit=10&offset=0\\content-type\\application/dicom\x01\x01\x02\x01\x00\x01")
write("sigv4", "query", b"eu-west-1\\medical-imaging\\/a/./b/../c//d?b=2&a=1&a=%20&%zz\\x-amz-meta\\  a   b  \x03\x01\x00\x00\x01\x00")
write("sigv4", "s3", b"us-east-1\\s3\\/bucket/key with space/%2F\\range\\bytes=0-1\x05\x00\x01\x01\x00\x01")
