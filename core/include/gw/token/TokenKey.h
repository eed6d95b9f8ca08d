#pragma once
// Cache keys. DESIGN.md: key = provider + identity configuration hash + scope/resource. Two
// servers whose provider, identity settings and scope are equal share one key, hence one token
// and one IdP call; any difference (another client id, tenant, secret, audience) gives another key.
//
// The key text is "<provider>:<64 hex digits>", the hex being SHA-256 over the length-prefixed
// parts (so "ab"+"c" and "a"+"bc" differ). The identity configuration usually contains a client
// secret: only its hash is in the key, and the key is never shown with the secret beside it.
#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace gw::token {

// `identityConfiguration`: a canonical text of every setting that selects the identity (use
// CanonicalJson() for a JSON object). `scope` and `resource` may be empty.
std::string MakeTokenKey(std::string_view provider, std::string_view identityConfiguration,
                         std::string_view scope, std::string_view resource = {});

// Same, from a JSON object of identity settings (canonicalised first).
std::string MakeTokenKey(std::string_view provider, const rapidjson::Value& identityConfiguration,
                         std::string_view scope, std::string_view resource = {});

// Compact JSON with object members sorted by name at every level, so two equal configurations
// written in a different order serialise (and hash) identically.
std::string CanonicalJson(const rapidjson::Value& value);

}  // namespace gw::token
