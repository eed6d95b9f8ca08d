#pragma once
// What the built-in provider scripts of a server may read beyond the operator's allowlists: the
// files and environment variables the server's identity configuration names, so an operator does
// not have to list them in FileAllowlist / EnvAllowlist a second time.
//
//   every server: its key, certificate, CA and token files
//   google:       GOOGLE_APPLICATION_CREDENTIALS and GCE_METADATA_HOST (as Google's libraries
//                 read them), the credential file (CredentialsFile, else the file the variable
//                 names), and the subject-token file an external_account credential file names
//                 (credential_source.file)
//   azure_managed_identity: the Azure SDK's variables (AZURE_AUTHORITY_HOST, AZURE_TENANT_ID,
//                 AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, IDENTITY_ENDPOINT,
//                 IDENTITY_HEADER, AZURE_POD_IDENTITY_AUTHORITY_HOST) and the federated token file
//                 (FederatedTokenFile, else the file AZURE_FEDERATED_TOKEN_FILE names);
//   client_credentials without TokenEndpoint (Entra from TenantId): AZURE_AUTHORITY_HOST
//   aws_sigv4:    the AWS SDKs' credential variables (AwsSigV4EnvNames()), the web identity token
//                 file (WebIdentityTokenFile, else AWS_WEB_IDENTITY_TOKEN_FILE) and the container
//                 authorization token file (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)
//
// Thread safety: a pure function of its arguments and of the environment and files at call time
// (called once at start-up).
#include <string>
#include <vector>

#include "gw/config/GatewayConfig.h"

namespace gw::service {

struct ProviderAccess {
  std::vector<std::string> files;    // absolute paths, added to EngineOptions::fileAllowlist
  std::vector<std::string> envNames; // added to EngineOptions::envAllowlist
};

// The environment variables lua/providers/aws_sigv4.lua reads (docs/providers/aws.md).
const std::vector<std::string>& AwsSigV4EnvNames();

// `script` is the provider script the server resolves to (config::ResolveProvider).
ProviderAccess AccessFor(const config::ServerConfig& server, const std::string& script);

}  // namespace gw::service
