#include "gw/service/ProviderAccess.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <rapidjson/document.h>

#include "gw/common/Json.h"

namespace gw::service {
namespace {

constexpr std::streamsize kMaxCredentialFile = 1024 * 1024;

// The subject-token file an external_account credential file names, or "" (unreadable files and
// other credential types name none; the script reports the real problem when it runs).
std::string SubjectTokenFile(const std::string& credentialFile) {
  std::ifstream in(credentialFile, std::ios::binary);
  if (!in) return {};
  std::string text(static_cast<size_t>(kMaxCredentialFile) + 1, '\0');
  in.read(text.data(), kMaxCredentialFile + 1);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > static_cast<size_t>(kMaxCredentialFile)) return {};
  auto parsed = json::Parse(text, "CFG-002");  // bounded: the file is not ours
  if (!parsed.Ok() || !parsed.Value().IsObject()) return {};
  const rapidjson::Document& doc = parsed.Value();
  const auto type = doc.FindMember("type");
  if (type == doc.MemberEnd() || !type->value.IsString() || std::string(type->value.GetString()) != "external_account") {
    return {};
  }
  const auto source = doc.FindMember("credential_source");
  if (source == doc.MemberEnd() || !source->value.IsObject()) return {};
  const auto file = source->value.FindMember("file");
  if (file == source->value.MemberEnd() || !file->value.IsString()) return {};
  const std::string path(file->value.GetString(), file->value.GetStringLength());
  // Only absolute paths: Google's libraries resolve a relative one against their working
  // directory, which is not a stable notion inside Orthanc.
  return !path.empty() && path[0] == '/' ? path : std::string();
}

}  // namespace

ProviderAccess AccessFor(const config::ServerConfig& server, const std::string& script) {
  ProviderAccess access;
  for (const std::string* f : {&server.privateKeyFile, &server.clientCertificate, &server.clientKey,
                               &server.tokenFile, &server.caBundle, &server.credentialsFile}) {
    if (!f->empty()) access.files.push_back(*f);
  }
  if (script == "google") {
    access.envNames = {"GOOGLE_APPLICATION_CREDENTIALS", "GCE_METADATA_HOST"};
    std::string credentials = server.credentialsFile;
    if (credentials.empty()) {
      const char* adc = std::getenv("GOOGLE_APPLICATION_CREDENTIALS");
      if (adc != nullptr && *adc != '\0') {
        credentials = adc;
        access.files.push_back(credentials);
      }
    }
    if (!credentials.empty()) {
      if (std::string subject = SubjectTokenFile(credentials); !subject.empty()) access.files.push_back(subject);
    }
  }
  if (script == "azure_managed_identity" || (script == "client_credentials" && server.tokenEndpoint.empty())) {
    // The Azure SDK's variables (docs/providers/azure.md); the client_credentials script reads
    // AZURE_AUTHORITY_HOST when it builds an Entra endpoint from TenantId.
    access.envNames = {"AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                       "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
                       "AZURE_POD_IDENTITY_AUTHORITY_HOST"};
    if (script == "client_credentials") access.envNames = {"AZURE_AUTHORITY_HOST"};
    // The projected service-account token of AKS workload identity, re-read at every acquisition.
    if (!server.federatedTokenFile.empty()) {
      access.files.push_back(server.federatedTokenFile);
    } else if (const char* file = std::getenv("AZURE_FEDERATED_TOKEN_FILE"); file != nullptr && *file == '/') {
      access.files.push_back(file);
    }
  }
  if (script == "aws_sigv4") {
    access.envNames = AwsSigV4EnvNames();
    const std::string* configured = nullptr;
    if (server.raw && server.raw->IsObject()) {
      auto it = server.raw->FindMember("WebIdentityTokenFile");
      if (it != server.raw->MemberEnd() && it->value.IsString() && it->value.GetStringLength() > 0) {
        access.files.emplace_back(it->value.GetString(), it->value.GetStringLength());
        configured = &access.files.back();
      }
    }
    for (const char* name : {"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"}) {
      if (configured != nullptr && std::string(name) == "AWS_WEB_IDENTITY_TOKEN_FILE") continue;
      if (const char* file = std::getenv(name); file != nullptr && *file == '/') access.files.push_back(file);
    }
  }
  return access;
}

const std::vector<std::string>& AwsSigV4EnvNames() {
  static const std::vector<std::string> kNames = {
      "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
      "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS",
      "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
      "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
      "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED"};
  return kNames;
}

}  // namespace gw::service
