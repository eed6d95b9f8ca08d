#include "gw/crypto/Jwks.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include <optional>

#include "Json.h"
#include "OpenSsl.h"
#include "gw/common/Log.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Errors.h"
#include "gw/crypto/Hash.h"

namespace gw::crypto {

namespace {

using detail::Owned;

constexpr size_t kP256CoordinateBytes = 32;

struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};

Error BadJwk(const std::string& why) { return MakeError(errc::kBadKey, "invalid JWK: " + why); }

// A required base64url member of the JWK, decoded.
Result<std::string> Member(const rapidjson::Value& jwk, const char* name) {
  const auto it = jwk.FindMember(name);
  if (it == jwk.MemberEnd() || !it->value.IsString()) return BadJwk(std::string("member '") + name + "' missing");
  auto bytes = Base64UrlDecode({it->value.GetString(), it->value.GetStringLength()});
  if (!bytes) return BadJwk(std::string("member '") + name + "': " + bytes.GetError().message);
  if (bytes.Value().empty()) return BadJwk(std::string("member '") + name + "' is empty");
  return bytes;
}

// Builds an EVP_PKEY of `type` ("RSA" / "EC") from provider parameters; with `opensslCheck`,
// OpenSSL's public-key check must pass too.
Result<AsymmetricKey> FromParams(const char* type, OSSL_PARAM_BLD* bld, bool opensslCheck) {
  std::unique_ptr<OSSL_PARAM, ParamBldFree> params(OSSL_PARAM_BLD_to_param(bld));
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return BadJwk(std::string("cannot build the ") + type + " key: " + detail::TakeOpenSslReason());
  }
  Owned<EVP_PKEY> key(raw);
  if (!opensslCheck) return AsymmetricKey::Adopt(key.release(), false);
  Owned<EVP_PKEY_CTX> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return BadJwk(std::string("the ") + type + " public key is not valid: " + detail::TakeOpenSslReason());
  }
  return AsymmetricKey::Adopt(key.release(), false);
}

Result<AsymmetricKey> RsaFromJwk(const rapidjson::Value& jwk) {
  auto n = Member(jwk, "n");
  if (!n) return n.GetError();
  auto e = Member(jwk, "e");
  if (!e) return e.GetError();
  Owned<BIGNUM> nb(BN_bin2bn(reinterpret_cast<const unsigned char*>(n.Value().data()), static_cast<int>(n.Value().size()), nullptr));
  Owned<BIGNUM> eb(BN_bin2bn(reinterpret_cast<const unsigned char*>(e.Value().data()), static_cast<int>(e.Value().size()), nullptr));
  if (!nb || !eb) return BadJwk("cannot build the RSA key: " + detail::TakeOpenSslReason());
  // Deterministic public-key checks (RFC 7518 3.3: 2048 bits at least): an odd modulus of
  // 2048-16384 bits, an odd exponent of at least 3 below it.
  const int bits = BN_num_bits(nb.get());
  if (bits < 2048 || bits > 16384 || !BN_is_odd(nb.get()) || !BN_is_odd(eb.get()) || BN_num_bits(eb.get()) < 2 ||
      BN_cmp(eb.get(), nb.get()) >= 0) {
    return BadJwk("the RSA public key is not valid: a modulus of " + std::to_string(bits) +
                  " bits (2048-16384, odd) and an odd exponent of at least 3 below it are required");
  }
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, nb.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, eb.get()) != 1) {
    return BadJwk("cannot build the RSA key: " + detail::TakeOpenSslReason());
  }
  // Not OpenSSL's RSA public check: it tests the modulus with random Miller-Rabin bases, so a
  // malformed modulus was kept or skipped at random (fuzz/fuzz_jwks). Checked above instead.
  return FromParams("RSA", bld.get(), /*opensslCheck=*/false);
}

Result<AsymmetricKey> EcFromJwk(const rapidjson::Value& jwk) {
  const auto crv = jwk.FindMember("crv");
  if (crv == jwk.MemberEnd() || !crv->value.IsString()) return BadJwk("member 'crv' missing");
  const std::string_view curve(crv->value.GetString(), crv->value.GetStringLength());
  if (curve != "P-256") {
    return MakeError(errc::kUnsupported, "JWK curve '" + detail::Printable(curve) + "' is not supported (P-256 only)");
  }
  auto x = Member(jwk, "x");
  if (!x) return x.GetError();
  auto y = Member(jwk, "y");
  if (!y) return y.GetError();
  // RFC 7518 section 6.2.1.2: the coordinates are the full 32 bytes, leading zeros included.
  if (x.Value().size() != kP256CoordinateBytes || y.Value().size() != kP256CoordinateBytes) {
    return BadJwk("P-256 coordinates must be 32 bytes each");
  }
  const std::string point = std::string(1, '\x04') + x.Value() + y.Value();  // uncompressed SEC1 point
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return BadJwk("cannot build the EC key: " + detail::TakeOpenSslReason());
  }
  // OpenSSL's check proves the point is on the curve (an invalid-curve point must never be used).
  return FromParams("EC", bld.get(), /*opensslCheck=*/true);
}

std::string BnParam(const AsymmetricKey& key, const char* name, int padTo) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key.Native(), name, &raw) != 1) {
    detail::ClearOpenSslErrors();
    return {};
  }
  Owned<BIGNUM> bn(raw);
  const int len = padTo > 0 ? padTo : BN_num_bytes(bn.get());
  std::string out(static_cast<size_t>(len), '\0');
  if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), len) < 0) return {};
  return Base64UrlEncode(out);
}

void AddString(rapidjson::Document& doc, const char* name, const std::string& value) {
  auto& a = doc.GetAllocator();
  doc.AddMember(rapidjson::StringRef(name), rapidjson::Value(value.c_str(), value.size(), a), a);
}

// The RFC 7638 required members in lexicographic order (the thumbprint depends on that order).
rapidjson::Document RequiredMembers(const AsymmetricKey& key) {
  rapidjson::Document doc(rapidjson::kObjectType);
  if (key.Type() == KeyType::Rsa) {
    AddString(doc, "e", BnParam(key, OSSL_PKEY_PARAM_RSA_E, 0));
    AddString(doc, "kty", "RSA");
    AddString(doc, "n", BnParam(key, OSSL_PKEY_PARAM_RSA_N, 0));
  } else {
    AddString(doc, "crv", "P-256");
    AddString(doc, "kty", "EC");
    AddString(doc, "x", BnParam(key, OSSL_PKEY_PARAM_EC_PUB_X, kP256CoordinateBytes));
    AddString(doc, "y", BnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, kP256CoordinateBytes));
  }
  return doc;
}

}  // namespace

Result<AsymmetricKey> PublicKeyFromJwk(const rapidjson::Value& jwk) {
  if (!jwk.IsObject()) return BadJwk("not a JSON object");
  const auto kty = jwk.FindMember("kty");
  if (kty == jwk.MemberEnd() || !kty->value.IsString()) return BadJwk("member 'kty' missing");
  const std::string_view type(kty->value.GetString(), kty->value.GetStringLength());
  if (type == "RSA") return RsaFromJwk(jwk);
  if (type == "EC") return EcFromJwk(jwk);
  return MakeError(errc::kUnsupported, "JWK key type '" + detail::Printable(type) + "' is not supported (RSA, EC)");
}

Result<Jwks> Jwks::Parse(std::string_view json) {
  auto doc = detail::ParseObject(json, "JWKS document");
  if (!doc) return MakeError(errc::kJwks, doc.GetError().message, 502);
  const auto keys = doc.Value().FindMember("keys");
  if (keys == doc.Value().MemberEnd() || !keys->value.IsArray()) {
    return MakeError(errc::kJwks, "JWKS document has no 'keys' array", 502);
  }
  Jwks out;
  for (const auto& entry : keys->value.GetArray()) {
    const auto text = [&](const char* name) -> std::optional<std::string> {
      if (!entry.IsObject()) return std::nullopt;
      const auto it = entry.FindMember(name);
      if (it == entry.MemberEnd()) return std::string();
      if (!it->value.IsString()) return std::nullopt;
      return std::string(it->value.GetString(), it->value.GetStringLength());
    };
    const auto kid = text("kid");
    const auto use = text("use");
    const auto alg = text("alg");
    // Unusable for JWS verification: not an object, malformed members, encryption keys, or an alg
    // this code does not verify.
    if (!kid || !use || !alg || (!use->empty() && *use != "sig") ||
        (!alg->empty() && *alg != "RS256" && *alg != "ES256")) {
      ++out.skipped_;
      continue;
    }
    auto key = PublicKeyFromJwk(entry);
    if (!key) {
      ++out.skipped_;
      LogDebug("JWKS key '" + detail::Printable(*kid) + "' skipped: " + key.GetError().ToString());
      continue;
    }
    out.keys_.push_back(Jwk{*kid, *alg, std::move(key.Value())});
  }
  return out;
}

std::vector<const Jwk*> Jwks::Candidates(std::string_view kid, JwsAlgorithm alg) const {
  std::vector<const Jwk*> out;
  for (const auto& k : keys_) {
    if (!kid.empty() && k.kid != kid) continue;
    if (AlgorithmFor(k.key) != alg) continue;
    if (!k.alg.empty() && k.alg != ToString(alg)) continue;
    out.push_back(&k);
  }
  return out;
}

bool Jwks::HasKid(std::string_view kid) const {
  for (const auto& k : keys_) {
    if (k.kid == kid) return true;
  }
  return false;
}

std::string PublicJwk(const AsymmetricKey& key, std::string_view kid) {
  rapidjson::Document doc = RequiredMembers(key);
  if (!kid.empty()) AddString(doc, "kid", std::string(kid));
  AddString(doc, "use", "sig");
  AddString(doc, "alg", ToString(AlgorithmFor(key)));
  return detail::Serialize(doc);
}

std::string JwkThumbprint(const AsymmetricKey& key) {
  return Base64UrlEncode(Sha256(detail::Serialize(RequiredMembers(key))));
}

}  // namespace gw::crypto
