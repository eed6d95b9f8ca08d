#pragma once
// One access token as the engine caches it. `accessToken` is a secret: it is never logged, never
// part of an error message, a metric or a status page; only code that puts it on the wire reads it.
// While a record is cached, its token is registered in gw::SecretRegistry (masked in logs).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gw/token/IClock.h"

namespace gw::token {

struct TokenRecord {
  std::string accessToken;           // secret
  std::string tokenType = "Bearer";  // as given by the IdP ("Bearer", "DPoP", ...)
  SteadyTime expiresAt{};            // steady time; sources convert expires_in / expires_on
  // Optional provider hint (`refresh_in` / `refresh_on`, converted to steady time). When the
  // engine caches a record it always sets this field to the effective refresh instant.
  std::optional<SteadyTime> refreshAt;
  std::vector<std::string> scopes;   // granted scopes, if the IdP said
  std::string provider;              // provider script name, for display
  // Display-only facts from the provider (tenant, audience, token endpoint host...). Never the
  // token or any other secret: shown on the status page as is.
  std::map<std::string, std::string> metadata;
};

}  // namespace gw::token
