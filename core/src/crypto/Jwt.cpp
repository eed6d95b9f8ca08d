#include "gw/crypto/Jwt.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>

#include "Json.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Errors.h"
#include "gw/crypto/Hash.h"
#include "gw/crypto/Jwks.h"

namespace gw::crypto {

namespace {

constexpr size_t kMaxTokenBytes = 64 * 1024;

Error BadToken(const std::string& why) { return MakeError(errc::kBadEncoding, "invalid JWT: " + why, 401); }

Error ClaimFailed(const char* claim, const std::string& why) {
  return MakeError(errc::kClaim, std::string("claim '") + claim + "' check failed: " + why, 401);
}

std::string Seconds(double v) {
  // NumericDate may carry a fraction; messages show whole seconds.
  // Printed as a double: a hostile claim (1.7e98) does not fit a long long (a cast is UB, fuzz/jwt).
  char text[64];
  std::snprintf(text, sizeof text, "%.0f", std::floor(v));
  return text;
}

// Looks up an optional numeric claim. Sets `present`; returns an error if present but not a number.
Status NumericClaim(const rapidjson::Value& claims, const char* name, bool& present, double& value) {
  present = false;
  const auto it = claims.FindMember(name);
  if (it == claims.MemberEnd()) return Status::Success();
  if (!it->value.IsNumber()) return ClaimFailed(name, "not a number");
  present = true;
  value = it->value.GetDouble();
  return Status::Success();
}

Result<DecodedJwt> VerifyWith(std::string_view token, const ClaimChecks& checks,
                              const std::function<Status(const DecodedJwt&)>& verify) {
  auto jwt = DecodeJwt(token);
  if (!jwt) return jwt.GetError();
  if (auto s = verify(jwt.Value()); !s) return s.GetError();
  if (auto s = CheckClaims(jwt.Value().claims, checks); !s) return s.GetError();
  return jwt;
}

}  // namespace

Result<DecodedJwt> DecodeJwt(std::string_view token) {
  if (token.empty()) return BadToken("empty token");
  if (token.size() > kMaxTokenBytes) return BadToken("token longer than " + std::to_string(kMaxTokenBytes) + " bytes");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return BadToken("expected three dot-separated parts (JWS compact serialization)");
  }
  const std::string_view headerPart = token.substr(0, dot1);
  const std::string_view payloadPart = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signaturePart = token.substr(dot2 + 1);

  auto headerText = Base64UrlDecode(headerPart);
  if (!headerText) return BadToken("header: " + headerText.GetError().message);
  auto payloadText = Base64UrlDecode(payloadPart);
  if (!payloadText) return BadToken("payload: " + payloadText.GetError().message);
  auto signature = Base64UrlDecode(signaturePart);
  if (!signature) return BadToken("signature: " + signature.GetError().message);

  auto header = detail::ParseObject(headerText.Value(), "JWT header");
  if (!header) return header.GetError();
  auto claims = detail::ParseObject(payloadText.Value(), "JWT claims");
  if (!claims) return claims.GetError();

  DecodedJwt jwt;
  jwt.header = std::move(header.Value());
  jwt.claims = std::move(claims.Value());
  const auto alg = jwt.header.FindMember("alg");
  if (alg == jwt.header.MemberEnd() || !alg->value.IsString()) return BadToken("header has no string 'alg'");
  jwt.alg.assign(alg->value.GetString(), alg->value.GetStringLength());
  const auto kid = jwt.header.FindMember("kid");
  if (kid != jwt.header.MemberEnd()) {
    if (!kid->value.IsString()) return BadToken("header 'kid' is not a string");
    jwt.kid.assign(kid->value.GetString(), kid->value.GetStringLength());
  }
  if (jwt.header.HasMember("crit")) {
    return MakeError(errc::kUnsupported, "JWT header lists critical extensions ('crit'); none is supported", 401);
  }
  jwt.signingInput.assign(token.substr(0, dot2));
  jwt.signature = std::move(signature.Value());
  return Result<DecodedJwt>(std::move(jwt));
}

Status CheckClaims(const rapidjson::Value& claims, const ClaimChecks& checks) {
  const double now = checks.now ? static_cast<double>(*checks.now) : static_cast<double>(std::time(nullptr));
  const double leeway = static_cast<double>(checks.leeway.count());
  const std::string context = " (now " + Seconds(now) + ", leeway " + std::to_string(checks.leeway.count()) + "s)";
  bool present = false;
  double value = 0;

  if (auto s = NumericClaim(claims, "exp", present, value); !s) return s;
  if (!present && checks.requireExp) return ClaimFailed("exp", "missing");
  if (present && now >= value + leeway) return ClaimFailed("exp", "token expired at " + Seconds(value) + context);

  if (auto s = NumericClaim(claims, "nbf", present, value); !s) return s;
  if (present && now + leeway < value) return ClaimFailed("nbf", "token not valid before " + Seconds(value) + context);

  if (auto s = NumericClaim(claims, "iat", present, value); !s) return s;
  if (present && value > now + leeway) return ClaimFailed("iat", "token issued in the future at " + Seconds(value) + context);

  if (!checks.issuer.empty()) {
    const auto iss = claims.FindMember("iss");
    if (iss == claims.MemberEnd() || !iss->value.IsString()) return ClaimFailed("iss", "missing or not a string");
    if (std::string_view(iss->value.GetString(), iss->value.GetStringLength()) != checks.issuer) {
      return ClaimFailed("iss", "issuer '" + detail::Printable({iss->value.GetString(), iss->value.GetStringLength()}) +
                                    "' is not the expected '" + detail::Printable(checks.issuer) + "'");
    }
  }

  if (!checks.audiences.empty()) {
    const auto aud = claims.FindMember("aud");
    if (aud == claims.MemberEnd()) return ClaimFailed("aud", "missing");
    std::vector<std::string_view> values;
    if (aud->value.IsString()) {
      values.emplace_back(aud->value.GetString(), aud->value.GetStringLength());
    } else if (aud->value.IsArray()) {
      for (const auto& v : aud->value.GetArray()) {
        if (!v.IsString()) return ClaimFailed("aud", "array member is not a string");
        values.emplace_back(v.GetString(), v.GetStringLength());
      }
    } else {
      return ClaimFailed("aud", "neither a string nor an array of strings");
    }
    bool accepted = false;
    for (const auto& v : values) {
      for (const auto& expected : checks.audiences) accepted = accepted || v == expected;
    }
    if (!accepted) return ClaimFailed("aud", "none of the token's " + std::to_string(values.size()) + " audience(s) is accepted");
  }
  return Status::Success();
}

Status VerifySignature(const DecodedJwt& jwt, const AsymmetricKey& publicKey) {
  auto alg = ParseJwsAlgorithm(jwt.alg);
  if (!alg) return alg.GetError();
  return VerifyJwsSignature(alg.Value(), publicKey, jwt.signingInput, jwt.signature);
}

Status VerifySignatureHmac(const DecodedJwt& jwt, std::string_view secret) {
  auto alg = ParseJwsAlgorithm(jwt.alg);
  if (!alg) return alg.GetError();
  if (alg.Value() != JwsAlgorithm::HS256) {
    return MakeError(errc::kUnsupported, "algorithm " + detail::Printable(jwt.alg) + " cannot be verified with a shared secret", 401);
  }
  if (secret.empty()) return MakeError(errc::kBadKey, "HS256 verification needs a non-empty secret");
  if (!ConstantTimeEquals(HmacSha256(secret, jwt.signingInput), jwt.signature)) {
    return MakeError(errc::kBadSignature, "HS256 signature does not verify", 401);
  }
  return Status::Success();
}

Status VerifySignature(const DecodedJwt& jwt, const Jwks& jwks) {
  auto alg = ParseJwsAlgorithm(jwt.alg);
  if (!alg) return alg.GetError();
  if (alg.Value() == JwsAlgorithm::HS256) {
    return MakeError(errc::kUnsupported, "HS256 is refused when verifying with a JWKS (public keys)", 401);
  }
  const std::string kidText = jwt.kid.empty() ? "no kid" : "kid '" + detail::Printable(jwt.kid) + "'";
  if (!jwt.kid.empty() && !jwks.HasKid(jwt.kid)) {
    return MakeError(errc::kJwks, "no key with " + kidText + " in the JWKS", 401);
  }
  const auto candidates = jwks.Candidates(jwt.kid, alg.Value());
  if (candidates.empty()) {
    if (!jwt.kid.empty()) {
      return MakeError(errc::kUnsupported, "algorithm " + jwt.alg + " does not match the key with " + kidText, 401);
    }
    return MakeError(errc::kJwks, "no " + jwt.alg + " key in the JWKS (" + kidText + ")", 401);
  }
  for (const Jwk* jwk : candidates) {
    if (VerifyJwsSignature(alg.Value(), jwk->key, jwt.signingInput, jwt.signature)) return Status::Success();
  }
  return MakeError(errc::kBadSignature, jwt.alg + " signature does not verify with the JWKS key(s) for " + kidText, 401);
}

Result<DecodedJwt> VerifyJwt(std::string_view token, const AsymmetricKey& publicKey, const ClaimChecks& checks) {
  return VerifyWith(token, checks, [&](const DecodedJwt& jwt) { return VerifySignature(jwt, publicKey); });
}

Result<DecodedJwt> VerifyJwt(std::string_view token, const Certificate& certificate, const ClaimChecks& checks) {
  auto key = certificate.PublicKey();
  if (!key) return key.GetError();
  return VerifyJwt(token, key.Value(), checks);
}

Result<DecodedJwt> VerifyJwt(std::string_view token, const Jwks& jwks, const ClaimChecks& checks) {
  return VerifyWith(token, checks, [&](const DecodedJwt& jwt) { return VerifySignature(jwt, jwks); });
}

Result<DecodedJwt> VerifyJwtHmac(std::string_view token, std::string_view secret, const ClaimChecks& checks) {
  return VerifyWith(token, checks, [&](const DecodedJwt& jwt) { return VerifySignatureHmac(jwt, secret); });
}

}  // namespace gw::crypto
