#include "ErrorStream.h"

#include <memory>
#include <mutex>

#include "gw/common/SecretRegistry.h"
#include "gw/config/ConfigLoader.h"
#include "gw/config/ConfigParser.h"
#include "gw/http/CurlHttpClient.h"
#include "gw/service/KeyVaultResolver.h"
#include "gw/service/ProviderAccess.h"

namespace gw::cli {
namespace {
std::mutex g_errMutex;
}  // namespace

void ErrLine(std::ostream& err, const std::string& line) {
  std::lock_guard<std::mutex> lock(g_errMutex);
  err << line + "\n" << std::flush;
}

void ErrSink::Write(LogLevel level, std::string_view message) {
  ErrLine(err_, std::string(ToString(level)) + ": " + std::string(message));
}

void PrintError(std::ostream& err, const std::string& code, const std::string& message) {
  ErrLine(err, "error " + code + ": " + SecretRegistry::Redact(message));
}

std::optional<config::GatewayConfig> LoadConfiguration(const std::string& path,
                                                       const std::vector<std::string>& scriptDirs,
                                                       std::ostream& err) {
  const config::LoadResult loaded = config::ConfigLoader::Load(path, config::ProcessEnvironment());
  for (const config::Diagnostic& d : loaded.diagnostics) ErrLine(err, SecretRegistry::Redact(d.ToString()));
  if (!loaded.document) return std::nullopt;

  config::ParseOptions parseOptions;
  parseOptions.baseDirectory = loaded.baseDirectory;
  parseOptions.variables = &loaded.variables;
  parseOptions.scriptDirectoriesOverride = scriptDirs;
  parseOptions.secretResolvers["keyvault"] =
      service::MakeKeyVaultResolver(std::make_shared<http::CurlHttpClient>());
  parseOptions.loadContracts = service::LoadProviderContracts;  // provider keys, as at the plugin's start
  config::ParseResult parsed = config::ConfigParser::Parse(*loaded.document, parseOptions);
  if (parsed.section == config::SectionStatus::Missing) {
    PrintError(err, "CFG-001", "DicomWebOAuth: section missing in " + path);
    return std::nullopt;
  }
  // Secrets first, so that nothing printed from here on can show them.
  for (const std::string& secret : config::CollectSecrets(parsed.bestEffort)) SecretRegistry::Add(secret);
  for (const config::Diagnostic& d : parsed.diagnostics) ErrLine(err, SecretRegistry::Redact(d.ToString()));
  if (!parsed.Ok()) {
    ErrLine(err, "configuration invalid: " +
                     std::to_string(config::CountSeverity(parsed.diagnostics, config::Severity::Error)) +
                     " error(s)");
    return std::nullopt;
  }
  return std::move(*parsed.config);
}

}  // namespace gw::cli
