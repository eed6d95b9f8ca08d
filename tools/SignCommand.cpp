// dicomweb-oauth sign --config PATH --server NAME --method M --url U [--header K:V]... [--body-file F]
//                     [--time YYYYMMDDTHHMMSSZ] [--show-credentials] [--scripts-dir DIR]...
//
// Prints the headers the gateway would add to one request, one `Name: value` per line: the same
// configuration loader and parser as check-config, the plugin's own service::Gateway (provider
// scripts, token engine, libcurl), and the same call the proxy makes (Gateway::RequestHeaders).
// For bearer providers that is `Authorization: Bearer <token>` after a real acquisition; for
// signing providers (aws_sigv4) the SigV4 headers, reproducible with --time.
//
// A live credential is shown only when asked for (--show-credentials): by default the values are
// masked, so that the command can be run to check a configuration without putting a token on a
// terminal or into a CI log. And only for a URL inside one of the server's upstreams (Url or
// Targets), as the proxy route would reach it: the command never signs a request for another
// host, port, scheme or path. Logs, warnings and errors go to standard error.
#include <cctype>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "Commands.h"
#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/config/ConfigLoader.h"
#include "gw/config/ConfigParser.h"
#include "gw/config/HttpUrl.h"
#include "gw/crypto/Hash.h"
#include "gw/http/CurlHttpClient.h"
#include "ErrorStream.h"
#include "gw/service/Gateway.h"

namespace gw::cli {
namespace {

constexpr const char* kUsage =
    "usage: dicomweb-oauth sign --config PATH --server NAME --method M --url U [--header K:V]...\n"
    "                           [--body-file F] [--time YYYYMMDDTHHMMSSZ] [--show-credentials]\n"
    "                           [--scripts-dir DIR]...\n";

struct Options {
  std::string config;
  std::string server;
  std::string method;
  std::string url;
  std::vector<std::string> headers;
  std::string bodyFile;
  std::string time;
  std::vector<std::string> scriptDirs;
  bool showCredentials = false;
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
    if (a == "--show-credentials") {
      o.showCredentials = true;
      continue;
    }
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

// RFC 3986 5.2.4: `path` without "." and ".." segments ("/a/b/../c" -> "/a/c").
std::string RemoveDotSegments(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 1;  // path starts with '/'
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    const bool last = end == path.size();
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      if (last) segments.emplace_back();  // "/a/.." -> "/"
    } else if (segment == ".") {
      if (last) segments.emplace_back();
    } else {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string out;
  for (const std::string_view segment : segments) out.append("/").append(segment);
  return out.empty() ? "/" : out;
}

// Why `url` is not inside any of `bases` (the server's Url and Targets), or "" when it is inside
// one: same scheme, host and port, and a path that, once its dot segments are removed, is the
// base path or below it, as the proxy route reaches upstreams (proxy::UpstreamUrl). Encoded
// dots, slashes and backslashes are refused outright: an upstream may decode them after the
// check, which is why the proxy route refuses every '%' in a path.
std::string OutsideTargets(const std::string& url, const std::vector<std::string>& bases) {
  config::UrlProblem problem = config::UrlProblem::None;
  const std::optional<config::HttpUrl> target = config::ParseHttpUrl(url, &problem);
  if (!target) return std::string("--url is not a usable http(s) URL: ") + config::Describe(problem);
  std::string lowered = target->path;
  for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* encoded : {"%2e", "%2f", "%5c", "%00"}) {
    if (lowered.find(encoded) != std::string::npos) {
      return "--url has an encoded dot, slash, backslash or NUL in its path";
    }
  }
  const std::string path = RemoveDotSegments(target->path);
  for (const std::string& base : bases) {
    const std::optional<config::HttpUrl> b = config::ParseHttpUrl(base);
    if (!b || b->scheme != target->scheme || b->host != target->host || b->port != target->port) continue;
    std::string basePath = RemoveDotSegments(b->path);
    if (basePath.back() != '/') basePath += '/';
    if (path + "/" == basePath || path.compare(0, basePath.size(), basePath) == 0) return {};
  }
  return "--url is outside the upstreams of the server (its Url and Targets): the command signs only "
         "requests the proxy route could send";
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// The value of an added header as printed without --show-credentials: the SigV4 date and body
// hash as they are (no secret in them), the scheme of an Authorization value ("Bearer ***"),
// anything else "***" (a header this list does not know is taken for a credential).
std::string Masked(const std::string& name, const std::string& value) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "x-amz-date" || lower == "x-amz-content-sha256") return SecretRegistry::Redact(value);
  if (lower == "authorization") {
    const size_t space = value.find(' ');
    if (space != std::string::npos && space > 0 && space <= 32) return value.substr(0, space) + " ***";
  }
  return "***";
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
  {
    const config::ServerConfig& server = cfg->servers.at(options.server);
    std::vector<std::string> bases;
    if (!server.url.empty()) bases.push_back(server.url);
    for (const auto& target : server.targets) bases.push_back(target.url);
    // Checked before the gateway starts: a refused URL costs no acquisition.
    if (const std::string refused = OutsideTargets(options.url, bases); !refused.empty()) {
      PrintError(io.err, "CLI-002", refused);
      return kExitFailure;
    }
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
  if (options.showCredentials) {
    // Not masked: the operator asked for exactly these values.
    for (const auto& [name, value] : added.Value()) io.out << name << ": " << value << "\n";
    return kExitOk;
  }
  for (const auto& [name, value] : added.Value()) io.out << name << ": " << Masked(name, value) << "\n";
  ErrLine(io.err, "note: credential values are masked (***); --show-credentials prints them");
  return kExitOk;
}

}  // namespace gw::cli
