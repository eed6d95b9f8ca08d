#pragma once
// Azure Key Vault secret references for the configuration: a secret value written
//   "keyvault:https://<vault>.vault.azure.net/secrets/<name>[/<version>]"
// is replaced at start-up (plugin, `dicomweb-oauth check-config` and `token`) by the secret's
// value, read with the host's managed identity: a token for the vault's resource
// (https://vault.azure.net; sovereign clouds: vault.usgovcloudapi.net, vault.azure.cn) from the App
// Service / Container Apps endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER, api-version 2019-08-01) or
// IMDS (api-version 2018-02-01; host AZURE_POD_IDENTITY_AUTHORITY_HOST, else 169.254.169.254), a
// user-assigned identity by AZURE_CLIENT_ID; then GET <secret-url>?api-version=7.4 and the JSON
// member `value`.
//
// Only vault hosts of the Azure clouds are accepted, over https. For tests, the environment
// variable DICOMWEB_OAUTH_KEYVAULT_ALLOW_HTTP_LOOPBACK=1 also admits http://127.0.0.1:<port> and
// http://localhost:<port> vaults (nothing else). Failures are errors (the caller turns them into
// CFG-007 naming the JSON path) whose messages name the vault and the secret, never a value or a
// token. Managed identity tokens are cached per resource for the resolver's lifetime (one start-up).
//
// Thread safety: the returned resolver may be called from one thread at a time.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gw/config/SecretReferences.h"
#include "gw/http/IHttpClient.h"

namespace gw::service {

struct KeyVaultOptions {
  std::shared_ptr<http::IHttpClient> http;
  // Environment lookup (tests inject their own); default: the process environment.
  std::function<std::optional<std::string>(const std::string& name)> env;
  std::chrono::milliseconds timeout{10000};  // each HTTP exchange
  int attempts = 3;                          // per managed identity request (404, 410, 429, 5xx)
  std::chrono::milliseconds retryDelay{500}; // doubled after each retry
};

config::SecretResolver MakeKeyVaultResolver(KeyVaultOptions options);
// The same with the defaults above and the process environment.
config::SecretResolver MakeKeyVaultResolver(std::shared_ptr<http::IHttpClient> http);

}  // namespace gw::service
