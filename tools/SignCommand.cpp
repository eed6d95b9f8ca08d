// dicomweb-oauth sign --config PATH --server NAME --method M --url U [--header K:V]... [--body-file F]
//                     [--time YYYYMMDDTHHMMSSZ] [--scripts-dir DIR]...
//
// Prints the headers the gateway would add to one request, one `Name: value` per line: the same
// configuration loader and parser as check-config, the plugin's own service::Gateway (provider
// scripts, token engine, libcurl), and the same call the proxy makes (Gateway::RequestHeaders).
// For bearer providers that is `Authorization: Bearer <token>` after a real acquisition; for
// signing providers (aws_sigv4) the SigV4 headers, reproducible with --time. Standard output holds
// credentials: that is the point of the command. Logs, warnings and errors go to standard error.
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "Commands.h"
#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/config/ConfigLoader.h"
#include "gw/config/ConfigParser.h"
#include "gw/crypto/Hash.h"
#include "gw/http/CurlHttpClient.h"
#include "ErrorStream.h"
#include "gw/service/Gateway.h"
#include "gw/service/KeyVaultResolver.h"

namespace gw::cli {
namespace {

constexpr const char* kUsage =
    "usage: dicomweb-oauth sign --config PATH --server NAME --method M --url U [--header K:V]...\n"
    "                           [--body-file F] [--time YYYYMMDDTHHMMSSZ] [--scripts-dir DIR]...\n";

struct Options {
  std::string config;
  std::string server;
  std::string method;
  std::string url;
  std::vector<std::string> headers;
  std::string bodyFile;
  std::string time;
  std::vector<std::string> scriptDirs;
};

bool Usage(std::ostream& err, const std::string& problem) {
  err << "dicomweb-oauth sign: " << problem << "\n" << kUsage;
  return false;
}

bool ParseArgs(const std::vector<std::string>& args, Options& o, std::ostream& err) {
  struct Single {
    const char* name;
    std::string* out;
  };
  const Single singles[] = {{"--config", &o.config}, {"--server", &o.server}, {"--method", &o.method},
                            {"--url", &o.url},       {"--body-file", &o.bodyFile}, {"--time", &o.time}};
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const size_t eq = a.find('=');
    const std::string name = a.rfind("--", 0) == 0 && eq != std::string::npos ? a.substr(0, eq) : a;
    std::optional<std::string> inline_value;
    if (name != a) inline_value = a.substr(eq + 1);
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 >= args.size()) return std::nullopt;
      return args[++i];
    };
    bool known = false;
    for (const Single& s : singles) {
      if (name != s.name) continue;
      known = true;
      auto v = value();
      if (!v || v->empty()) return Usage(err, name + " needs a non-empty value");
      if (!s.out->empty()) return Usage(err, name + " given twice");
      *s.out = *v;
    }
    if (known) continue;
    if (name == "--header" || name == "--scripts-dir") {
      auto v = value();
      if (!v || v->empty()) return Usage(err, name + " needs a non-empty value");
      (name == "--header" ? o.headers : o.scriptDirs).push_back(*v);
      continue;
    }
    if (!a.empty() && a[0] == '-') return Usage(err, "unknown option '" + a + "'");
    return Usage(err, "unexpected argument '" + a + "'");
  }
  if (o.config.empty() || o.server.empty() || o.method.empty() || o.url.empty()) {
    return Usage(err, "--config, --server, --method and --url are required");
  }
  return true;
}

// SHA-256 (hex) of a file, read in pieces: a body of any size.
std::optional<std::string> FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  try {
    crypto::Sha256Hasher hasher;
    std::vector<char> buffer(1 << 16);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      if (in.gcount() > 0) hasher.Update(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
    }
    if (in.bad()) return std::nullopt;
    return hasher.FinalHex();
  } catch (const std::runtime_error&) {  // OpenSSL failed
    return std::nullopt;
  }
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

}  // namespace

int RunSign(const std::vector<std::string>& args, Io io) {
  Options options;
  if (!ParseArgs(args, options, io.err)) return kExitUsage;
  http::Headers headers;
  for (const std::string& h : options.headers) {
    const size_t colon = h.find(':');
    if (colon == 0 || colon == std::string::npos) {
      io.err << "dicomweb-oauth sign: --header needs Name:value\n" << kUsage;
      return kExitUsage;
    }
    headers.emplace_back(Trim(h.substr(0, colon)), Trim(h.substr(colon + 1)));
  }
  SetLogSink(std::make_shared<ErrSink>(io.err));
  SetLogLevel(LogLevel::Warning);

  std::string payload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";  // empty body
  if (!options.bodyFile.empty()) {
    auto hashed = FileSha256(options.bodyFile);
    if (!hashed) {
      PrintError(io.err, "CLI-001", "cannot read --body-file " + options.bodyFile);
      return kExitFailure;
    }
    payload = *hashed;
  }

  std::optional<config::GatewayConfig> cfg = LoadConfiguration(options.config, options.scriptDirs, io.err);
  if (!cfg) return kExitFailure;
  if (cfg->servers.count(options.server) == 0) {
    PrintError(io.err, "TOK-006", "unknown server '" + options.server + "'");
    return kExitFailure;
  }
  auto gateway = service::Gateway::Create(std::move(*cfg), std::make_shared<http::CurlHttpClient>());
  if (!gateway.Ok()) {
    PrintError(io.err, gateway.GetError().code, gateway.GetError().message);
    return kExitFailure;
  }
  if (!options.time.empty() && !gateway.Value()->IsSigning(options.server)) {
    ErrLine(io.err, "warning: --time only applies to signing providers; server '" + options.server + "' uses " +
                        gateway.Value()->ProviderOf(options.server));
  }
  proxy::OutgoingRequest request{options.method, options.url, &headers, payload};
  auto added = gateway.Value()->RequestHeaders(options.server, request, std::chrono::seconds(0),
                                               std::chrono::milliseconds(30000), options.time);
  if (!added.Ok()) {
    PrintError(io.err, added.GetError().code, added.GetError().message);
    return kExitFailure;
  }
  // Not masked: the operator asked for exactly these values.
  for (const auto& [name, value] : added.Value()) io.out << name << ": " << value << "\n";
  return kExitOk;
}

}  // namespace gw::cli
