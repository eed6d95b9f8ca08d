// dicomweb-oauth check-config PATH [--scripts-dir DIR]...
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>

#include "Commands.h"
#include "gw/audit/AuditLog.h"
#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/config/ConfigParser.h"
#include "gw/config/ProviderResolver.h"
#include "gw/lua/ScriptEngine.h"
#include "gw/policy/PolicyScripts.h"
#include "gw/service/ConfigurationLoad.h"
#include "gw/service/InjectMode.h"
#include "gw/service/LoopbackCredentials.h"

namespace gw::cli {
namespace {

using config::Diagnostic;
using config::Severity;

// Engine logs (script compilation and the like) go to stderr, after secret masking by Log().
class StderrSink final : public ILogSink {
 public:
  void Write(LogLevel level, std::string_view message) override {
    std::cerr << ToString(level) << ": " << message << "\n";
  }
};

struct Options {
  std::string path;
  std::vector<std::string> scriptDirs;
};

bool ParseArgs(const std::vector<std::string>& args, Options& options, std::ostream& err) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--scripts-dir") {
      if (i + 1 >= args.size()) {
        err << "dicomweb-oauth check-config: --scripts-dir needs a folder\n";
        return false;
      }
      options.scriptDirs.push_back(args[++i]);
    } else if (a.rfind("--scripts-dir=", 0) == 0) {
      options.scriptDirs.push_back(a.substr(14));
    } else if (!a.empty() && a[0] == '-') {
      err << "dicomweb-oauth check-config: unknown option '" << a << "'\n";
      return false;
    } else if (options.path.empty()) {
      options.path = a;
    } else {
      err << "dicomweb-oauth check-config: only one configuration path is accepted\n";
      return false;
    }
  }
  if (options.path.empty()) {
    err << "usage: dicomweb-oauth check-config PATH [--scripts-dir DIR]...\n";
    return false;
  }
  return true;
}

// Prints every line through SecretRegistry (defence in depth: messages carry no values anyway).
class Printer {
 public:
  explicit Printer(std::ostream& out) : out_(out) {}
  void Print(const Diagnostic& d) {
    Line(d.ToString());
    if (d.severity == Severity::Error) ++errors_;
    else ++warnings_;
  }
  void PrintAll(const std::vector<Diagnostic>& list) {
    for (const Diagnostic& d : list) Print(d);
  }
  void Line(const std::string& text) { out_ << SecretRegistry::Redact(text) << "\n"; }
  size_t Errors() const { return errors_; }
  size_t Warnings() const { return warnings_; }

 private:
  std::ostream& out_;
  size_t errors_ = 0;
  size_t warnings_ = 0;
};

std::string Plural(size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// Compiles and checks the scripts like a reload would, then verifies provider scripts exist.
void CheckScripts(const config::GatewayConfig& cfg, Printer& printer) {
  const config::GlobalConfig& g = cfg.global;
  if (g.scriptDirectories.empty()) return;
  for (const std::string& dir : g.scriptDirectories) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return;  // already reported by the parser (CFG-002)
  }
  lua::EngineOptions options;
  options.scriptDirs = g.scriptDirectories;
  options.memoryLimitBytes = static_cast<size_t>(g.luaMemoryLimitMb) * 1024 * 1024;
  options.defaultBudget = std::chrono::milliseconds(g.luaTimeoutMs);
  options.maxStatesPerSnapshot = static_cast<size_t>(g.luaPoolSize);
  options.envAllowlist = g.envAllowlist;
  options.fileAllowlist = g.fileAllowlist;
  lua::ScriptEngine engine(std::move(options));
  const Result<lua::SnapshotInfo> checked = engine.Check();
  if (!checked.Ok()) {
    printer.Print(Diagnostic{Severity::Error, checked.GetError().code, "DicomWebOAuth.ScriptDirectories",
                             checked.GetError().message});
    return;
  }
  std::map<std::string, std::string> kinds;
  for (const lua::ScriptInfo& s : checked.Value().scripts) kinds[s.name] = s.kind;
  std::string dirs;
  for (const std::string& d : g.scriptDirectories) dirs += (dirs.empty() ? "" : ", ") + d;
  printer.Line("info scripts: " + Plural(checked.Value().scripts.size(), "script") + " checked in " + dirs +
               " (digest " + checked.Value().digest.substr(0, 16) + ")");
  printer.PrintAll(config::VerifyProviderScripts(cfg, kinds));
  printer.PrintAll(policy::VerifyPolicyScripts(cfg, kinds));  // the same check as the plugin's start
  for (const std::string& problem : audit::CheckAuditRules(cfg.global.audit, kinds)) {
    printer.Print(Diagnostic{Severity::Error, "CFG-002", "DicomWebOAuth.Audit.Rules", problem});
  }
}

}  // namespace

int RunCheckConfig(const std::vector<std::string>& args, Io io) {
  Options options;
  if (!ParseArgs(args, options, io.err)) return kExitUsage;
  SetLogSink(std::make_shared<StderrSink>());
  SetLogLevel(LogLevel::Warning);

  Printer printer(io.out);
  service::ConfigurationSource source;
  source.path = options.path;
  source.scriptDirectories = options.scriptDirs;
  // Key Vault references are resolved and provider keys checked as at start-up, so a wrong one shows here.
  const service::LoadedConfiguration loaded = service::LoadConfiguration(source);
  printer.PrintAll(loaded.readProblems);
  if (!loaded.read) {
    printer.Line("configuration invalid: " + Plural(printer.Errors(), "error") + ", " +
                 Plural(printer.Warnings(), "warning"));
    return kExitFailure;
  }
  const config::ParseResult& parsed = loaded.parsed;
  if (parsed.section == config::SectionStatus::Missing) {
    printer.Print(Diagnostic{Severity::Error, "CFG-001", "DicomWebOAuth",
                             "section missing: the plugin would stay disabled"});
    printer.Line("configuration invalid: " + Plural(printer.Errors(), "error") + ", " +
                 Plural(printer.Warnings(), "warning"));
    return kExitFailure;
  }
  const config::GatewayConfig& cfg = parsed.bestEffort;
  for (const std::string& secret : config::CollectSecrets(cfg)) SecretRegistry::Add(secret);
  printer.PrintAll(parsed.diagnostics);
  printer.PrintAll(service::CheckLoopbackCredentials(cfg));  // also logged by the plugin at start
  printer.PrintAll(service::CheckInjectUrlPrefix(cfg));       // idem

  for (const auto& [name, server] : cfg.servers) {
    const config::ProviderResolution p = config::ResolveProvider(server);
    const std::string prefix = "DicomWebOAuth.Servers." + name + ".Provider";  // also ...ProviderType
    const bool providerInvalid = std::any_of(parsed.diagnostics.begin(), parsed.diagnostics.end(), [&](const Diagnostic& d) {
      return d.severity == Severity::Error && d.path.rfind(prefix, 0) == 0;
    });
    if (p.script.empty() || providerInvalid) continue;  // the error says why
    printer.Line("info server " + name + ": provider " + p.script + " (" + p.reason + "), mode " +
                 config::ToString(server.mode));
  }
  CheckScripts(cfg, printer);

  const bool valid = printer.Errors() == 0;
  printer.Line(std::string(valid ? "configuration valid: " : "configuration invalid: ") +
               Plural(cfg.servers.size(), "server") + ", " + Plural(printer.Errors(), "error") + ", " +
               Plural(printer.Warnings(), "warning"));
  return valid ? kExitOk : kExitFailure;
}

}  // namespace gw::cli
