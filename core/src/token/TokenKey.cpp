#include "gw/token/TokenKey.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "gw/common/Json.h"

namespace gw::token {

namespace {

void AppendPart(std::string& out, std::string_view part) {
  // 8-byte big-endian length, then the bytes.
  uint64_t n = part.size();
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  out.append(part.data(), part.size());
}


}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1 || length != 32) {
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  }
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0x0f];
  }
  return hex;
}

std::string CanonicalJson(const rapidjson::Value& value) { return json::Canonical(value); }

std::string MakeTokenKey(std::string_view provider, std::string_view identityConfiguration,
                         std::string_view scope, std::string_view resource) {
  std::string material = "gw-token-key-v1";
  AppendPart(material, provider);
  AppendPart(material, identityConfiguration);
  AppendPart(material, scope);
  AppendPart(material, resource);
  std::string key = std::string(provider) + ":" + Sha256Hex(material);
  OPENSSL_cleanse(material.data(), material.size());  // it may hold a client secret
  return key;
}

std::string MakeTokenKey(std::string_view provider, const rapidjson::Value& identityConfiguration,
                         std::string_view scope, std::string_view resource) {
  return MakeTokenKey(provider, CanonicalJson(identityConfiguration), scope, resource);
}

}  // namespace gw::token
