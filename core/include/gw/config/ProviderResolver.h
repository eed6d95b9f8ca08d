#pragma once
// Which provider script (lua/providers/<script>.lua) serves a configured server, and why.
//
//   Provider set                         -> that script (a custom provider)
//   ProviderType generic|keycloak|auth0|okta|azure|entra -> client_credentials
//   ProviderType azuremanagedidentity    -> azure_managed_identity
//   ProviderType google                  -> google
//   ProviderType aws                     -> aws_sigv4
//   ProviderType static                  -> static_token
//   ProviderType file                    -> token_file
//   ProviderType auto (default)          -> a CredentialsFile of a Google type (service_account,
//                                           external_account) -> google; otherwise detected, see
//                                           DetectProviderType()
//
// Detection compares exact host names and path segments, never substrings. It fixes two bugs of
// the Python plugin's auto-detection: any endpoint whose text contained "aws" was sent to the AWS
// provider (laws.example.com, aws-idp.example.com), and only Keycloak's legacy `/auth/realms/`
// paths were recognised.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gw/config/Diagnostic.h"
#include "gw/config/GatewayConfig.h"

namespace gw::config {

struct ProviderResolution {
  std::string script;   // provider script name, e.g. "client_credentials"
  std::string flavour;  // the identity provider family: azure|google|keycloak|generic|aws|
                        // azuremanagedidentity|auth0|okta|static|file|custom
  std::string reason;   // one sentence for logs and check-config, free of secrets
};

// ProviderType "auto": the family recognised from the token endpoint, or from the DICOMweb URL
// when there is no token endpoint. Returns one of azure|google|keycloak|aws|generic and sets
// `reason`.
std::string DetectProviderType(std::string_view tokenEndpoint, std::string_view url,
                               std::string* reason = nullptr);

// The credential file types the google provider uses ("type" of CredentialsFile).
bool IsGoogleCredentialType(std::string_view type);

ProviderResolution ResolveProvider(const ServerConfig& server);

// CFG-002 for each server whose resolved provider script is not among `scripts` (name -> kind of
// the checked script snapshot) or is not of kind "provider". Paths name the server's
// Provider / ProviderType key.
std::vector<Diagnostic> VerifyProviderScripts(const GatewayConfig& config,
                                              const std::map<std::string, std::string>& scripts);

}  // namespace gw::config
