// gw.crypto, gw.base64, gw.url and gw.jwt: the primitives identity providers need, backed by
// gw::crypto (OpenSSL 3). Operational failures (a bad key file, undecodable input) are values
// (nil, message) so a provider can turn them into its own error; wrong argument types raise.
// No message ever contains key material, a secret or a token.
#include <algorithm>
#include <string>
#include <vector>

#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/Certificate.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Hash.h"
#include "gw/crypto/Jws.h"
#include "gw/crypto/Jwt.h"
#include "lua/AllowedFile.h"
#include "lua/BindingRegistry.h"
#include "lua/JsonBridge.h"

namespace gw::lua {
namespace {

constexpr size_t kMaxRandomBytes = 1024;

void PushString(lua_State* L, const std::string& s) { lua_pushlstring(L, s.data(), s.size()); }

// stack: ... -> ..., nil, message
int PushFailure(lua_State* L, const char* function, const Error& error) {
  lua_pushnil(L);
  const std::string message = std::string(function) + ": " + error.ToString();
  PushString(L, message);
  return 2;
}

// ---- gw.crypto -------------------------------------------------------------------------------

int Sha256(lua_State* L) {
  PushString(L, crypto::Sha256(ArgString(L, 1, "gw.crypto.sha256", "data")));
  return 1;
}

int Sha256Hex(lua_State* L) {
  PushString(L, crypto::HexEncode(crypto::Sha256(ArgString(L, 1, "gw.crypto.sha256_hex", "data"))));
  return 1;
}

int HmacSha256(lua_State* L) {
  const auto key = ArgString(L, 1, "gw.crypto.hmac_sha256", "key");
  PushString(L, crypto::HmacSha256(key, ArgString(L, 2, "gw.crypto.hmac_sha256", "data")));
  return 1;
}

int HmacSha256Hex(lua_State* L) {
  const auto key = ArgString(L, 1, "gw.crypto.hmac_sha256_hex", "key");
  PushString(L, crypto::HexEncode(crypto::HmacSha256(key, ArgString(L, 2, "gw.crypto.hmac_sha256_hex", "data"))));
  return 1;
}

size_t RandomCount(lua_State* L, const char* function) {
  const lua_Integer n = luaL_checkinteger(L, 1);
  if (n < 1 || n > static_cast<lua_Integer>(kMaxRandomBytes)) {
    throw BindingError(std::string(function) + ": count must be between 1 and 1024");
  }
  return static_cast<size_t>(n);
}

int RandomBytes(lua_State* L) {
  auto bytes = crypto::RandomBytes(RandomCount(L, "gw.crypto.random_bytes"));
  if (!bytes.Ok()) throw BindingError("gw.crypto.random_bytes: " + bytes.GetError().ToString());
  PushString(L, bytes.Value());
  return 1;
}

int RandomHex(lua_State* L) {
  auto bytes = crypto::RandomBytes(RandomCount(L, "gw.crypto.random_hex"));
  if (!bytes.Ok()) throw BindingError("gw.crypto.random_hex: " + bytes.GetError().ToString());
  PushString(L, crypto::HexEncode(bytes.Value()));
  return 1;
}

int HexEncode(lua_State* L) {
  PushString(L, crypto::HexEncode(ArgString(L, 1, "gw.crypto.hex_encode", "data")));
  return 1;
}

int HexDecode(lua_State* L) {
  auto decoded = crypto::HexDecode(ArgString(L, 1, "gw.crypto.hex_decode", "text"));
  if (!decoded.Ok()) return PushFailure(L, "gw.crypto.hex_decode", decoded.GetError());
  PushString(L, decoded.Value());
  return 1;
}

// ---- gw.base64 -------------------------------------------------------------------------------

int B64Encode(lua_State* L) {
  PushString(L, crypto::Base64Encode(ArgString(L, 1, "gw.base64.encode", "data")));
  return 1;
}

int B64Decode(lua_State* L) {
  auto decoded = crypto::Base64Decode(ArgString(L, 1, "gw.base64.decode", "text"));
  if (!decoded.Ok()) return PushFailure(L, "gw.base64.decode", decoded.GetError());
  PushString(L, decoded.Value());
  return 1;
}

int B64UrlEncode(lua_State* L) {
  PushString(L, crypto::Base64UrlEncode(ArgString(L, 1, "gw.base64.url_encode", "data")));
  return 1;
}

int B64UrlDecode(lua_State* L) {
  auto decoded = crypto::Base64UrlDecode(ArgString(L, 1, "gw.base64.url_decode", "text"));
  if (!decoded.Ok()) return PushFailure(L, "gw.base64.url_decode", decoded.GetError());
  PushString(L, decoded.Value());
  return 1;
}

// ---- gw.url ----------------------------------------------------------------------------------

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 3986 percent-encoding of everything but unreserved characters (upper-case hex, as SigV4
// and OAuth 1 style canonicalisation require). `form`: application/x-www-form-urlencoded, where
// a space is '+'.
std::string Escape(std::string_view in, bool form) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size() * 3);
  for (unsigned char c : in) {
    if (IsUnreserved(c)) {
      out += static_cast<char>(c);
    } else if (form && c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

int UrlEscape(lua_State* L) {
  PushString(L, Escape(ArgString(L, 1, "gw.url.escape", "text"), false));
  return 1;
}

int FormEscape(lua_State* L) {
  PushString(L, Escape(ArgString(L, 1, "gw.url.form_escape", "text"), true));
  return 1;
}

// gw.url.form_encode(table) -> "a=1&b=x+y": keys sorted (stable output), values strings, numbers
// or booleans; other keys or values raise.
int FormEncode(lua_State* L) {
  ArgTable(L, 1, "gw.url.form_encode", "fields");
  std::vector<std::pair<std::string, std::string>> fields;
  lua_pushnil(L);  // stack: fields, nil
  while (lua_next(L, 1) != 0) {  // stack: fields, key, value
    if (lua_type(L, -2) != LUA_TSTRING) throw BindingError("gw.url.form_encode: keys must be strings");
    std::string key(lua_tostring(L, -2));
    std::string value;
    switch (lua_type(L, -1)) {
      case LUA_TSTRING: {
        size_t n = 0;
        const char* s = lua_tolstring(L, -1, &n);
        value.assign(s, n);
        break;
      }
      case LUA_TNUMBER:
        value = lua_isinteger(L, -1) ? std::to_string(lua_tointeger(L, -1)) : std::to_string(lua_tonumber(L, -1));
        break;
      case LUA_TBOOLEAN: value = lua_toboolean(L, -1) ? "true" : "false"; break;
      default: throw BindingError("gw.url.form_encode: value of '" + key + "' must be a string, number or boolean");
    }
    fields.emplace_back(std::move(key), std::move(value));
    lua_pop(L, 1);  // stack: fields, key
  }
  std::sort(fields.begin(), fields.end());
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += Escape(k, true) + "=" + Escape(v, true);
  }
  PushString(L, out);
  return 1;
}

// ---- gw.jwt ----------------------------------------------------------------------------------

// Reads the key named in the options table at `opts`: `secret` (HS256), `key_pem` or `key_file`
// (RS256/ES256, optional `key_password`).
Result<crypto::JwsKey> SigningKey(lua_State* L, int opts, const char* fn) {
  const auto alg = FieldString(L, opts, "alg", fn);
  const auto kid = FieldString(L, opts, "kid", fn).value_or("");
  if (alg && *alg == "HS256") {
    const auto secret = FieldString(L, opts, "secret", fn);
    if (!secret || secret->empty()) throw BindingError(std::string(fn) + ": HS256 needs a non-empty secret");
    return crypto::JwsKey::Hmac(std::string(*secret), std::string(kid));
  }
  std::string pem;
  if (auto inline_pem = FieldString(L, opts, "key_pem", fn)) pem.assign(*inline_pem);
  else if (auto file = FieldString(L, opts, "key_file", fn)) pem = ReadAllowedFile(L, *file, fn);
  else throw BindingError(std::string(fn) + ": key_pem or key_file expected");
  auto key = crypto::AsymmetricKey::FromPrivatePem(pem, FieldString(L, opts, "key_password", fn).value_or(""));
  if (!key.Ok()) return key.GetError();
  std::string x5t;
  if (auto certFile = FieldString(L, opts, "x5t_file", fn)) {
    auto cert = crypto::Certificate::FromPem(ReadAllowedFile(L, *certFile, fn));
    if (!cert.Ok()) return cert.GetError();
    x5t = cert.Value().Thumbprint();
  }
  crypto::JwsKey jws = crypto::JwsKey::Asymmetric(std::move(key).Value(), std::string(kid), std::move(x5t));
  if (alg) {
    auto wanted = crypto::ParseJwsAlgorithm(*alg);
    if (!wanted.Ok()) return wanted.GetError();
    if (wanted.Value() != jws.alg) {
      return MakeError("CRY-005", std::string("the key cannot sign ") + std::string(*alg));
    }
  }
  return jws;
}

// gw.jwt.sign{alg=, claims={...}, header={...}?, secret= | key_pem= | key_file=, key_password=,
//             kid=, x5t_file=} -> compact JWS, or nil, message.
int JwtSign(lua_State* L) {
  const char* fn = "gw.jwt.sign";
  ArgTable(L, 1, fn, "options");
  if (!PushFieldTable(L, 1, "claims", fn)) throw BindingError("gw.jwt.sign: claims table expected");
  std::string claims;
  try {
    claims = EncodeJson(L, -1);
  } catch (const ConversionError& e) {
    throw BindingError(std::string("gw.jwt.sign: claims: ") + e.what());
  }
  lua_pop(L, 1);
  std::string header = "{\"typ\":\"JWT\"}";
  if (PushFieldTable(L, 1, "header", fn)) {
    try {
      header = EncodeJson(L, -1);
    } catch (const ConversionError& e) {
      throw BindingError(std::string("gw.jwt.sign: header: ") + e.what());
    }
    lua_pop(L, 1);
    if (header == "{}") header = "{\"typ\":\"JWT\"}";
  }
  auto key = SigningKey(L, 1, fn);
  if (!key.Ok()) return PushFailure(L, fn, key.GetError());
  auto token = crypto::SignJwt(header, claims, key.Value());
  if (!token.Ok()) return PushFailure(L, fn, token.GetError());
  PushString(L, token.Value());
  return 1;
}

// gw.jwt.decode(token) -> {header=, claims=} (signature NOT checked), or nil, message.
int JwtDecode(lua_State* L) {
  auto decoded = crypto::DecodeJwt(ArgString(L, 1, "gw.jwt.decode", "token"));
  if (!decoded.Ok()) return PushFailure(L, "gw.jwt.decode", decoded.GetError());
  lua_createtable(L, 0, 2);  // stack: result
  PushJson(L, decoded.Value().header);
  lua_setfield(L, -2, "header");
  PushJson(L, decoded.Value().claims);
  lua_setfield(L, -2, "claims");
  return 1;
}

// gw.jwt.verify{token=, key_pem= | key_file= | secret=, audience=, issuer=, require_exp=}
// -> claims, or nil, message.
int JwtVerify(lua_State* L) {
  const char* fn = "gw.jwt.verify";
  ArgTable(L, 1, fn, "options");
  const auto token = FieldString(L, 1, "token", fn);
  if (!token) throw BindingError("gw.jwt.verify: token expected");
  crypto::ClaimChecks checks;
  if (auto aud = FieldString(L, 1, "audience", fn)) checks.audiences = {std::string(*aud)};
  if (auto iss = FieldString(L, 1, "issuer", fn)) checks.issuer = std::string(*iss);
  if (auto req = FieldBoolean(L, 1, "require_exp", fn)) checks.requireExp = *req;
  Result<crypto::DecodedJwt> verified = MakeError("CRY-001", "no key");
  if (auto secret = FieldString(L, 1, "secret", fn)) {
    verified = crypto::VerifyJwtHmac(*token, *secret, checks);
  } else {
    std::string pem;
    if (auto inline_pem = FieldString(L, 1, "key_pem", fn)) pem.assign(*inline_pem);
    else if (auto file = FieldString(L, 1, "key_file", fn)) pem = ReadAllowedFile(L, *file, fn);
    else throw BindingError("gw.jwt.verify: key_pem, key_file or secret expected");
    if (pem.find("CERTIFICATE") != std::string::npos) {
      auto cert = crypto::Certificate::FromPem(pem);
      if (!cert.Ok()) return PushFailure(L, fn, cert.GetError());
      verified = crypto::VerifyJwt(*token, cert.Value(), checks);
    } else {
      auto key = crypto::AsymmetricKey::FromPublicPem(pem);
      if (!key.Ok()) return PushFailure(L, fn, key.GetError());
      verified = crypto::VerifyJwt(*token, key.Value(), checks);
    }
  }
  if (!verified.Ok()) return PushFailure(L, fn, verified.GetError());
  PushJson(L, verified.Value().claims);
  return 1;
}

}  // namespace

const BindingNamespace& CryptoNamespace() {
  static const BindingNamespace ns{"crypto",
                                   {{"sha256", &Protect<Sha256>},
                                    {"sha256_hex", &Protect<Sha256Hex>},
                                    {"hmac_sha256", &Protect<HmacSha256>},
                                    {"hmac_sha256_hex", &Protect<HmacSha256Hex>},
                                    {"random_bytes", &Protect<RandomBytes>},
                                    {"random_hex", &Protect<RandomHex>},
                                    {"hex_encode", &Protect<HexEncode>},
                                    {"hex_decode", &Protect<HexDecode>}}};
  return ns;
}

const BindingNamespace& Base64Namespace() {
  static const BindingNamespace ns{"base64",
                                   {{"encode", &Protect<B64Encode>},
                                    {"decode", &Protect<B64Decode>},
                                    {"url_encode", &Protect<B64UrlEncode>},
                                    {"url_decode", &Protect<B64UrlDecode>}}};
  return ns;
}

const BindingNamespace& UrlNamespace() {
  static const BindingNamespace ns{
      "url", {{"escape", &Protect<UrlEscape>}, {"form_escape", &Protect<FormEscape>}, {"form_encode", &Protect<FormEncode>}}};
  return ns;
}

const BindingNamespace& JwtNamespace() {
  static const BindingNamespace ns{
      "jwt", {{"sign", &Protect<JwtSign>}, {"decode", &Protect<JwtDecode>}, {"verify", &Protect<JwtVerify>}}};
  return ns;
}

}  // namespace gw::lua
