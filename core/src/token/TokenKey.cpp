#include "gw/token/TokenKey.h"

#include <algorithm>
#include <vector>

#include <openssl/crypto.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "gw/common/Json.h"
#include "gw/crypto/Hash.h"

namespace gw::token {

namespace {

void AppendPart(std::string& out, std::string_view part) {
  // 8-byte big-endian length, then the bytes.
  uint64_t n = part.size();
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  out.append(part.data(), part.size());
}


}  // namespace

std::string CanonicalJson(const rapidjson::Value& value) { return json::Canonical(value); }

std::string MakeTokenKey(std::string_view provider, std::string_view identityConfiguration,
                         std::string_view scope, std::string_view resource) {
  std::string material = "gw-token-key-v1";
  AppendPart(material, provider);
  AppendPart(material, identityConfiguration);
  AppendPart(material, scope);
  AppendPart(material, resource);
  std::string key = std::string(provider) + ":" + crypto::Sha256Hex(material);
  OPENSSL_cleanse(material.data(), material.size());  // it may hold a client secret
  return key;
}

std::string MakeTokenKey(std::string_view provider, const rapidjson::Value& identityConfiguration,
                         std::string_view scope, std::string_view resource) {
  return MakeTokenKey(provider, CanonicalJson(identityConfiguration), scope, resource);
}

}  // namespace gw::token
