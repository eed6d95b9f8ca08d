#include "ErrorStream.h"

#include <memory>
#include <mutex>

#include "gw/common/SecretRegistry.h"
#include "gw/service/ConfigurationLoad.h"

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
  service::ConfigurationSource source;
  source.path = path;
  source.scriptDirectories = scriptDirs;
  service::LoadedConfiguration loaded = service::LoadConfiguration(source);
  for (const config::Diagnostic& d : loaded.readProblems) ErrLine(err, SecretRegistry::Redact(d.ToString()));
  if (!loaded.read) return std::nullopt;
  config::ParseResult& parsed = loaded.parsed;
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
