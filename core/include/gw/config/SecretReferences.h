#pragma once
// Secret references: a secret value of the configuration may name where the secret lives instead
// of holding it, and is replaced by the secret before the configuration is validated.
//
//   "ClientSecret": "env:AZURE_SECRET"             the environment variable AZURE_SECRET
//   "ClientSecret": "file:/run/secrets/azure"      the file's content (one trailing line break dropped)
//   "ClientSecret": "keyvault:https://v.vault.azure.net/secrets/x"   an external resolver (see below)
//   "ClientSecret": "literal:env:abc"              the literal text "env:abc" (the escape)
//
// Only secret values are looked at: here the gateway's own (Password, CertificateKeyPassword and
// every HttpHeaders value of each server, the section's RedisEncryptionKey, Audit.ChainKey /
// Audit.PreviousChainKey); a server's provider secrets (ClientSecret, Token, a custom provider's
// own keys...) are the keys its contract declares secret, resolved by ApplyProviderContracts with
// ResolveSecretReference (ProviderContracts.h). Any other value starting with "env:" is an
// ordinary string.
//
// A reference that cannot be resolved is an error, CFG-007, naming the JSON path and the
// reference's kind and name (variable name or file path), never a value. Messages do not repeat
// the reference text itself ("env:X"): the unresolved text stays in the best-effort
// configuration, whose values a caller may register as secrets and mask. The configuration is
// then invalid and the plugin does not start (fail closed). The reference text is never used as
// the secret. Resolved values end up in GatewayConfig like values written in clear, so
// CollectSecrets() returns them and they are masked in logs.
//
// Kinds other than env, file and literal are resolved by callbacks the caller registers in
// ParseOptions::secretResolvers (kind -> resolver), such as Azure Key Vault at start-up. The kind
// `keyvault` is always recognised: without a registered resolver it is CFG-007, never a literal.
//
// Thread safety: a pure function of its arguments (reads the environment and the referenced files).
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "gw/common/Error.h"
#include "gw/config/Diagnostic.h"

namespace gw::config {

// Resolves the text after "<kind>:"; an Error's message must not contain the secret.
using SecretResolver = std::function<Result<std::string>(const std::string& reference)>;

struct SecretReferenceOptions {
  std::string baseDirectory;                       // base of relative file: paths ("" = current dir)
  std::map<std::string, SecretResolver> resolvers; // extra kinds (lower case, e.g. "keyvault")
};

// Kinds with a built-in meaning or a reserved name.
bool IsSecretReference(const std::string& value);

// Resolves one reference given outside a configuration (the CLI's `audit verify --key`): CFG-007
// when `value` is not a reference or cannot be resolved.
Result<std::string> ResolveSecretReference(const std::string& value, const SecretReferenceOptions& options);

// Rewrites every secret reference of `orthancRoot`'s `DicomWebOAuth` section in place; returns
// one CFG-007 error per reference that could not be resolved (the value is then left as it was).
std::vector<Diagnostic> ResolveSecretReferences(rapidjson::Document& orthancRoot,
                                                const SecretReferenceOptions& options);

}  // namespace gw::config
