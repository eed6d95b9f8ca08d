#include "gw/crypto/Jws.h"

#include <rapidjson/document.h>

#include "Json.h"
#include "OpenSsl.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Errors.h"
#include "gw/crypto/Hash.h"

namespace gw::crypto {

namespace {

using detail::Owned;

constexpr size_t kP256CoordinateBytes = 32;

// DER ECDSA-Sig-Value -> 64-byte R||S (RFC 7518 section 3.4).
Result<std::string> DerToRaw(std::string_view der) {
  const unsigned char* cursor = reinterpret_cast<const unsigned char*>(der.data());
  Owned<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
  if (!sig) return MakeError(errc::kBadKey, "ECDSA signature encoding failed: " + detail::TakeOpenSslReason());
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * kP256CoordinateBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, kP256CoordinateBytes) < 0 ||
      BN_bn2binpad(s, out + kP256CoordinateBytes, kP256CoordinateBytes) < 0) {
    detail::ClearOpenSslErrors();
    return MakeError(errc::kBadKey, "ECDSA signature does not fit P-256");
  }
  return raw;
}

// 64-byte R||S -> DER, for OpenSSL's verifier. Empty on failure.
std::string RawToDer(std::string_view raw) {
  const auto* in = reinterpret_cast<const unsigned char*>(raw.data());
  Owned<BIGNUM> r(BN_bin2bn(in, kP256CoordinateBytes, nullptr));
  Owned<BIGNUM> s(BN_bin2bn(in + kP256CoordinateBytes, kP256CoordinateBytes, nullptr));
  Owned<ECDSA_SIG> sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return {};
  static_cast<void>(r.release());  // owned by sig now
  static_cast<void>(s.release());
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return {};
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

Result<std::string> DigestSign(EVP_PKEY* key, std::string_view data) {
  Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key, nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, in, data.size()) != 1) {
    return MakeError(errc::kBadKey, "signing failed: " + detail::TakeOpenSslReason());
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, data.size()) != 1) {
    return MakeError(errc::kBadKey, "signing failed: " + detail::TakeOpenSslReason());
  }
  sig.resize(len);
  return sig;
}

bool DigestVerify(EVP_PKEY* key, std::string_view data, std::string_view sig) {
  Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  const bool ok = ctx && EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key, nullptr) == 1 &&
                  EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                   reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  detail::ClearOpenSslErrors();
  return ok;
}

}  // namespace

const char* ToString(JwsAlgorithm alg) {
  switch (alg) {
    case JwsAlgorithm::HS256:
      return "HS256";
    case JwsAlgorithm::RS256:
      return "RS256";
    case JwsAlgorithm::ES256:
      return "ES256";
  }
  return "?";
}

Result<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name) {
  if (name == "HS256") return JwsAlgorithm::HS256;
  if (name == "RS256") return JwsAlgorithm::RS256;
  if (name == "ES256") return JwsAlgorithm::ES256;
  if (name == "none") return MakeError(errc::kUnsupported, "algorithm 'none' (unsigned token) is refused", 401);
  return MakeError(errc::kUnsupported, "algorithm '" + detail::Printable(name) + "' is not supported (HS256, RS256, ES256)",
                   401);
}

JwsAlgorithm AlgorithmFor(const AsymmetricKey& key) {
  return key.Type() == KeyType::Rsa ? JwsAlgorithm::RS256 : JwsAlgorithm::ES256;
}

JwsKey JwsKey::Hmac(std::string secret, std::string kid) {
  JwsKey k;
  k.alg = JwsAlgorithm::HS256;
  k.secret = std::move(secret);
  k.kid = std::move(kid);
  return k;
}

JwsKey JwsKey::Asymmetric(AsymmetricKey key, std::string kid, std::string x5t) {
  JwsKey k;
  k.alg = AlgorithmFor(key);
  k.key = std::move(key);
  k.kid = std::move(kid);
  k.x5t = std::move(x5t);
  return k;
}

Result<std::string> SignJws(const JwsKey& key, std::string_view signingInput) {
  if (key.alg == JwsAlgorithm::HS256) {
    if (key.secret.empty()) return MakeError(errc::kBadKey, "HS256 needs a non-empty secret");
    return HmacSha256(key.secret, signingInput);
  }
  if (!key.key) return MakeError(errc::kBadKey, std::string(ToString(key.alg)) + " needs a private key");
  if (!key.key->HasPrivateKey()) {
    return MakeError(errc::kBadKey, std::string(ToString(key.alg)) + " needs a private key, got a public key");
  }
  if (AlgorithmFor(*key.key) != key.alg) {
    return MakeError(errc::kBadKey, std::string("an ") + ToString(key.key->Type()) + " key cannot sign " + ToString(key.alg));
  }
  auto sig = DigestSign(key.key->Native(), signingInput);
  if (!sig || key.alg != JwsAlgorithm::ES256) return sig;
  return DerToRaw(sig.Value());
}

Status VerifyJwsSignature(JwsAlgorithm alg, const AsymmetricKey& key, std::string_view signingInput,
                          std::string_view signature) {
  if (alg == JwsAlgorithm::HS256) {
    return MakeError(errc::kUnsupported, "HS256 is refused when verifying with a public key", 401);
  }
  if (AlgorithmFor(key) != alg) {
    return MakeError(errc::kUnsupported,
                     std::string("algorithm ") + ToString(alg) + " does not match the " + ToString(key.Type()) + " key", 401);
  }
  if (alg == JwsAlgorithm::ES256) {
    if (signature.size() != 2 * kP256CoordinateBytes) {
      return MakeError(errc::kBadSignature, "ES256 signature must be 64 bytes, got " + std::to_string(signature.size()), 401);
    }
    const std::string der = RawToDer(signature);
    if (der.empty() || !DigestVerify(key.Native(), signingInput, der)) {
      detail::ClearOpenSslErrors();
      return MakeError(errc::kBadSignature, "ES256 signature does not verify", 401);
    }
    return Status::Success();
  }
  if (!DigestVerify(key.Native(), signingInput, signature)) {
    return MakeError(errc::kBadSignature, "RS256 signature does not verify", 401);
  }
  return Status::Success();
}

Result<std::string> SignJwt(std::string_view headerJson, std::string_view claimsJson, const JwsKey& key) {
  auto given = detail::ParseObject(headerJson, "JWT header");
  if (!given) return given.GetError();
  auto claims = detail::ParseObject(claimsJson, "JWT claims");
  if (!claims) return claims.GetError();

  rapidjson::Document header(rapidjson::kObjectType);
  auto& a = header.GetAllocator();
  header.AddMember("alg", rapidjson::Value(ToString(key.alg), a), a);
  if (!key.kid.empty()) header.AddMember("kid", rapidjson::Value(key.kid.c_str(), key.kid.size(), a), a);
  if (!key.x5t.empty()) header.AddMember("x5t", rapidjson::Value(key.x5t.c_str(), key.x5t.size(), a), a);
  for (auto& m : given.Value().GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (name == "alg" || (name == "kid" && !key.kid.empty()) || (name == "x5t" && !key.x5t.empty())) continue;
    header.AddMember(rapidjson::Value(m.name, a), rapidjson::Value(m.value, a), a);
  }

  std::string token = Base64UrlEncode(detail::Serialize(header));
  token += '.';
  token += Base64UrlEncode(detail::Serialize(claims.Value()));
  auto sig = SignJws(key, token);
  if (!sig) return sig.GetError();
  token += '.';
  token += Base64UrlEncode(sig.Value());
  return token;
}

}  // namespace gw::crypto

