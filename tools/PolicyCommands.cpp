// dicomweb-oauth scripts dry-run --config PATH [--scripts-dir DIR]... [--compare-dir DIR]...
// dicomweb-oauth policy evaluate --config PATH --server NAME --method M --path P [...]
//
// Changing policies without fear (docs/policies.md, "Before a reload"). Both start the plugin's own
// service::Gateway over the configuration, so the scripts go through exactly what a reload does
// (compile, contract checks, self-tests, the snapshot validator: every script the configuration names
// must be there), and policies run in the plugin's PolicyEngine with the same request table.
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "Commands.h"
#include "ErrorStream.h"
#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/http/CurlHttpClient.h"
#include "gw/lua/ScriptEngine.h"
#include "gw/policy/DryRun.h"
#include "gw/service/Gateway.h"

namespace gw::cli {
namespace {

// Minimal option reader: `--name VALUE` or `--name=VALUE`.
class Args {
 public:
  Args(const std::vector<std::string>& args, const char* command, const char* usage, std::ostream& err)
      : args_(args), command_(command), usage_(usage), err_(err) {}

  // True when args_[i] is `name`; reads its value into `out` (appended when `repeatable`).
  bool Take(size_t& i, const char* name, std::string& out, bool& failed, bool repeatable = false,
            std::vector<std::string>* all = nullptr) {
    const std::string& a = args_[i];
    const std::string n(name);
    std::string value;
    if (a == n) {
      if (i + 1 >= args_.size()) return Fail(failed, n + " needs a value");
      value = args_[++i];
    } else if (a.rfind(n + "=", 0) == 0) {
      value = a.substr(n.size() + 1);
    } else {
      return false;
    }
    if (value.empty()) return Fail(failed, n + " needs a non-empty value");
    if (all != nullptr) {
      all->push_back(value);
    } else if (!repeatable && !out.empty()) {
      return Fail(failed, n + " given twice");
    } else {
      out = value;
    }
    return true;
  }
  bool Fail(bool& failed, const std::string& why) {
    err_ << "dicomweb-oauth " << command_ << ": " << why << "\n" << usage_;
    failed = true;
    return true;
  }

 private:
  const std::vector<std::string>& args_;
  const char* command_;
  const char* usage_;
  std::ostream& err_;
};

constexpr const char* kDryRunUsage =
    "usage: dicomweb-oauth scripts dry-run --config PATH [--scripts-dir DIR]... [--compare-dir DIR]...\n";

std::optional<std::unique_ptr<service::Gateway>> StartGateway(const std::string& path,
                                                              const std::vector<std::string>& scriptDirs, Io io,
                                                              bool scriptsOnly) {
  std::optional<config::GatewayConfig> cfg = LoadConfiguration(path, scriptDirs, io.err);
  if (!cfg) return std::nullopt;
  auto gateway = service::Gateway::Create(std::move(*cfg), std::make_shared<http::CurlHttpClient>());
  if (!gateway.Ok()) {
    const Error& e = gateway.GetError();
    if (scriptsOnly) {
      io.out << SecretRegistry::Redact("error " + e.code + ": " + e.message) << "\n";
    } else {
      PrintError(io.err, e.code, e.message);
    }
    return std::nullopt;
  }
  return std::move(gateway).Value();
}

}  // namespace

int RunScriptsDryRun(const std::vector<std::string>& args, Io io) {
  std::string configPath, unused;
  std::vector<std::string> scriptDirs, compareDirs;
  Args reader(args, "scripts dry-run", kDryRunUsage, io.err);
  for (size_t i = 0; i < args.size(); ++i) {
    bool failed = false;
    if (reader.Take(i, "--config", configPath, failed) || reader.Take(i, "--scripts-dir", unused, failed, true, &scriptDirs) ||
        reader.Take(i, "--compare-dir", unused, failed, true, &compareDirs)) {
      if (failed) return kExitUsage;
      continue;
    }
    io.err << "dicomweb-oauth scripts dry-run: unknown option '" << args[i] << "'\n" << kDryRunUsage;
    return kExitUsage;
  }
  if (configPath.empty()) {
    io.err << kDryRunUsage;
    return kExitUsage;
  }
  SetLogSink(std::make_shared<ErrSink>(io.err));
  SetLogLevel(LogLevel::Warning);

  // The candidate: the folders given (or the configuration's), through everything a reload runs.
  auto gateway = StartGateway(configPath, scriptDirs, io, true);
  if (!gateway) {
    io.out << "dry run: a reload would be refused (the serving scripts would stay); nothing was published\n";
    return kExitFailure;
  }
  const lua::SnapshotInfo candidate = (*gateway)->Engine().CurrentInfo();
  for (const lua::ScriptInfo& s : candidate.scripts) {
    io.out << "script " << s.name << " (" << s.kind << " " << s.version << ") " << s.file << "\n";
  }
  if (!compareDirs.empty()) {
    // The baseline: compiled and contract-checked only (it is what serves, or served, already).
    lua::EngineOptions options;
    options.scriptDirs = compareDirs;
    lua::ScriptEngine baseline(std::move(options));
    const Result<lua::SnapshotInfo> before = baseline.Check();
    if (!before.Ok()) {
      PrintError(io.err, before.GetError().code, "--compare-dir: " + before.GetError().message);
      return kExitFailure;
    }
    const auto changes = policy::CompareSnapshots(before.Value(), candidate);
    for (const policy::ScriptChange& c : changes) {
      io.out << "change " << c.change << " " << c.name << " (" << c.kind;
      if (!c.before.empty()) io.out << " " << c.before;
      if (!c.before.empty() && !c.after.empty()) io.out << " ->";
      if (!c.after.empty()) io.out << " " << c.after;
      io.out << ")\n";
    }
    if (changes.empty()) io.out << "no script changed\n";
  }
  io.out << "dry run passed: a reload would publish " << candidate.scripts.size() << " script(s), digest "
         << candidate.digest.substr(0, 16) << "; nothing was published\n";
  return kExitOk;
}

namespace {

constexpr const char* kEvaluateUsage =
    "usage: dicomweb-oauth policy evaluate --config PATH --server NAME --method M --path P [--query K=V]...\n"
    "       [--header K:V]... [--user U] [--ip IP] [--stage upstream|client] [--operation OP]\n"
    "       [--authorization none|expected|other] [--unhealthy TARGET]... [--scripts-dir DIR]...\n";

std::string Trim(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(s.begin());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

}  // namespace

int RunPolicyEvaluate(const std::vector<std::string>& args, Io io) {
  std::string configPath, server, method, path, user, ip, stage, operation, authorization, unused;
  std::vector<std::string> queries, headers, unhealthy, scriptDirs;
  Args reader(args, "policy evaluate", kEvaluateUsage, io.err);
  for (size_t i = 0; i < args.size(); ++i) {
    bool failed = false;
    if (reader.Take(i, "--config", configPath, failed) || reader.Take(i, "--server", server, failed) ||
        reader.Take(i, "--method", method, failed) || reader.Take(i, "--path", path, failed) ||
        reader.Take(i, "--user", user, failed) || reader.Take(i, "--ip", ip, failed) ||
        reader.Take(i, "--stage", stage, failed) || reader.Take(i, "--operation", operation, failed) ||
        reader.Take(i, "--authorization", authorization, failed) ||
        reader.Take(i, "--query", unused, failed, true, &queries) ||
        reader.Take(i, "--header", unused, failed, true, &headers) ||
        reader.Take(i, "--unhealthy", unused, failed, true, &unhealthy) ||
        reader.Take(i, "--scripts-dir", unused, failed, true, &scriptDirs)) {
      if (failed) return kExitUsage;
      continue;
    }
    io.err << "dicomweb-oauth policy evaluate: unknown option '" << args[i] << "'\n" << kEvaluateUsage;
    return kExitUsage;
  }
  if (configPath.empty() || server.empty() || method.empty() || path.empty()) {
    io.err << kEvaluateUsage;
    return kExitUsage;
  }
  if (!stage.empty() && stage != "upstream" && stage != "client") {
    io.err << "dicomweb-oauth policy evaluate: --stage is upstream or client\n" << kEvaluateUsage;
    return kExitUsage;
  }
  if (!authorization.empty() && authorization != "none" && authorization != "expected" && authorization != "other") {
    io.err << "dicomweb-oauth policy evaluate: --authorization is none, expected or other\n" << kEvaluateUsage;
    return kExitUsage;
  }
  std::vector<std::pair<std::string, std::string>> query;
  for (const std::string& q : queries) {
    const size_t eq = q.find('=');
    query.emplace_back(q.substr(0, eq), eq == std::string::npos ? std::string() : q.substr(eq + 1));
  }
  http::Headers headerList;
  for (const std::string& h : headers) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      io.err << "dicomweb-oauth policy evaluate: --header needs NAME:VALUE, got '" << h << "'\n" << kEvaluateUsage;
      return kExitUsage;
    }
    headerList.emplace_back(Trim(h.substr(0, colon)), Trim(h.substr(colon + 1)));
  }
  for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  SetLogSink(std::make_shared<ErrSink>(io.err));
  SetLogLevel(LogLevel::Warning);

  auto gateway = StartGateway(configPath, scriptDirs, io, false);
  if (!gateway) return kExitFailure;
  const auto& servers = (*gateway)->Config().servers;
  const auto it = servers.find(server);
  if (it == servers.end()) {
    std::string known;
    for (const auto& [name, s] : servers) known += (known.empty() ? "" : ", ") + name;
    PrintError(io.err, "TOK-006", "unknown server '" + server + "' (configured: " +
                                      (known.empty() ? std::string("none") : known) + ")");
    return kExitFailure;
  }
  const config::ServerConfig& cfg = it->second;
  for (const std::string& name : unhealthy) {
    bool found = false;
    for (const auto& t : cfg.targets) found = found || t.name == name;
    if (!found) {
      PrintError(io.err, "CLI-003", "--unhealthy " + name + ": server '" + server + "' has no such target");
      return kExitUsage;
    }
  }

  // As the plugin describes requests: the upstream stage for proxy servers (the DICOMweb path below
  // the base URL), the client stage for inject servers (the /dicom-web/servers/{name}/... URI).
  const std::string mode = config::ToString(cfg.mode);
  if (stage.empty()) stage = mode == "proxy" ? "upstream" : "client";
  if (stage == "client" && operation.empty()) {
    const size_t slash = path.find_last_of('/');
    operation = slash == std::string::npos ? path : path.substr(slash + 1);
  }
  policy::PolicyRequest request;
  request.stage = stage == "client" ? policy::Stage::Client : policy::Stage::Upstream;
  request.server = server;
  request.mode = mode;
  request.method = method;
  request.path = path;
  request.operation = stage == "client" ? std::string_view(operation) : std::string_view();
  request.headers = &headerList;
  request.query = &query;
  request.user = user;
  request.ip = ip;
  if (stage == "upstream") request.authorization = authorization.empty() ? "expected" : authorization;
  for (const auto& t : cfg.targets) {
    bool healthy = true;
    for (const std::string& name : unhealthy) healthy = healthy && name != t.name;
    request.targets.push_back({t.name, t.url, healthy});
  }
  request.config = cfg.policyConfig.get();

  std::string chain;
  for (const std::string& p : cfg.policies) chain += (chain.empty() ? "" : ", ") + p;
  io.out << "server " << server << " (" << mode << " mode), stage " << stage << ", " << method << " " << path;
  if (!user.empty()) io.out << ", user " << user;
  io.out << "\npolicies: " << (chain.empty() ? std::string("none (allowed, primary target)") : chain) << "\n";

  const policy::Evaluation evaluation = (*gateway)->Policies().Evaluate(cfg.policies, request);
  for (size_t i = 0; i < evaluation.steps.size(); ++i) {
    const policy::PolicyStep& step = evaluation.steps[i];
    io.out << SecretRegistry::Redact("  " + std::to_string(i + 1) + ". " + step.policy + ": " +
                                     policy::DescribeDecision(step.decision) +
                                     (step.consulted ? "" : "  [not reached: the chain stopped at the denial above]"))
           << "\n";
  }
  const policy::Decision& combined = evaluation.combined;
  io.out << SecretRegistry::Redact("combined: " + policy::DescribeDecision(combined) +
                                   (combined.allow || combined.policy.empty() ? "" : " (by " + combined.policy + ")"))
         << "\n";
  return combined.allow ? kExitOk : kExitDenied;
}

}  // namespace gw::cli
