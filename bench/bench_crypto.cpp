// Crypto micro-benchmark: JWS sign/verify per second for RS256 (2048), ES256, HS256, and AES-256-GCM
// seal/open of a token-sized value. Plain main, no assertions; run from the repository root:
//   ./build/bench/bench_crypto [seconds-per-case]
// Keys are the test-only fixtures of tests/fixtures/crypto.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "gw/crypto/AesGcm.h"
#include "gw/crypto/AsymmetricKey.h"
#include "gw/crypto/Hash.h"
#include "gw/crypto/Jws.h"
#include "gw/crypto/Jwt.h"

using namespace gw::crypto;

namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s (run from the repository root)\n", path.c_str());
    std::exit(1);
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void Measure(const char* name, double seconds, const std::function<bool()>& op) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  long count = 0;
  while (Clock::now() < end) {
    for (int i = 0; i < 16; ++i) {
      if (!op()) {
        std::fprintf(stderr, "%s: operation failed\n", name);
        std::exit(1);
      }
    }
    count += 16;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("%-34s %12.0f ops/s  %9.2f us/op\n", name, count / elapsed, 1e6 * elapsed / count);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const std::string dir = "tests/fixtures/crypto/";
  const auto rsa = AsymmetricKey::FromPrivatePem(Read(dir + "rsa-pkcs8.pem")).Value();
  const auto rsaPub = AsymmetricKey::FromPublicPem(Read(dir + "rsa-public.pem")).Value();
  const auto ec = AsymmetricKey::FromPrivatePem(Read(dir + "ec-pkcs8.pem")).Value();
  const auto ecPub = AsymmetricKey::FromPublicPem(Read(dir + "ec-public.pem")).Value();
  const std::string header = R"({"typ":"JWT"})";
  const std::string claims =
      R"({"iss":"client","sub":"client","aud":"https://login.example/oauth2/v2.0/token","exp":4102444800,"jti":"b7e1"})";
  const JwsKey rsaKey = JwsKey::Asymmetric(rsa, "kid");
  const JwsKey ecKey = JwsKey::Asymmetric(ec, "kid");
  const JwsKey hmacKey = JwsKey::Hmac("0123456789abcdef0123456789abcdef");
  const std::string rsaToken = SignJwt(header, claims, rsaKey).Value();
  const std::string ecToken = SignJwt(header, claims, ecKey).Value();
  const std::string hmacToken = SignJwt(header, claims, hmacKey).Value();
  const std::string aesKey = RandomBytes(32).Value();
  const std::string token(1500, 't');  // a typical access token size
  const std::string sealed = AesGcmEncrypt(aesKey, token, "ctx").Value();

  std::printf("OpenSSL-backed gw::crypto, %.1f s per case\n", seconds);
  Measure("SignJwt RS256 (2048)", seconds, [&] { return SignJwt(header, claims, rsaKey).Ok(); });
  Measure("SignJwt ES256 (P-256)", seconds, [&] { return SignJwt(header, claims, ecKey).Ok(); });
  Measure("SignJwt HS256", seconds, [&] { return SignJwt(header, claims, hmacKey).Ok(); });
  Measure("VerifyJwt RS256", seconds, [&] { return VerifyJwt(rsaToken, rsaPub, {}).Ok(); });
  Measure("VerifyJwt ES256", seconds, [&] { return VerifyJwt(ecToken, ecPub, {}).Ok(); });
  Measure("VerifyJwtHmac HS256", seconds, [&] { return VerifyJwtHmac(hmacToken, "0123456789abcdef0123456789abcdef", {}).Ok(); });
  Measure("HmacSha256 (64 bytes)", seconds, [&] { return HmacSha256(aesKey, std::string(64, 'x')).size() == 32; });
  Measure("AesGcmEncrypt (1500 bytes)", seconds, [&] { return AesGcmEncrypt(aesKey, token, "ctx").Ok(); });
  Measure("AesGcmDecrypt (1500 bytes)", seconds, [&] { return AesGcmDecrypt(aesKey, sealed, "ctx").Ok(); });
  return 0;
}
