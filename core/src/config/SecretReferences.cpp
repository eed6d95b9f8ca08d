#include "gw/config/SecretReferences.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "gw/config/JsonPath.h"
#include "gw/config/VariableMap.h"

namespace gw::config {
namespace {

namespace fs = std::filesystem;
using rapidjson::Value;

const char* const kSection = "DicomWebOAuth";
// The gateway's own secret keys of a server object (HttpHeaders values are handled separately);
// a provider's secret keys are its contract's (ApplyProviderContracts).
const char* const kServerSecretKeys[] = {"Password", "CertificateKeyPassword"};
// A referenced file larger than this is not a secret but a mistake (a key file, a log...).
constexpr std::uintmax_t kMaxSecretFileBytes = 64 * 1024;

// "kind:rest" for the kinds this module knows or was given; nullopt for anything else.
struct Reference {
  std::string kind;
  std::string target;
};

std::optional<Reference> Split(const std::string& value, const SecretReferenceOptions* options) {
  const size_t colon = value.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  const std::string kind = value.substr(0, colon);
  const bool known = kind == "env" || kind == "file" || kind == "literal" || kind == "keyvault" ||
                     (options != nullptr && options->resolvers.count(kind) != 0);
  if (!known) return std::nullopt;
  return Reference{kind, value.substr(colon + 1)};
}

// File paths are shown in messages (like every other file key); they are not secrets.
std::string Printable(const std::string& text) {
  std::string out;
  for (char c : text.substr(0, 200)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return text.size() > 200 ? out + "..." : out;
}

Result<std::string> ResolveEnv(const std::string& name) {
  if (!IsEnvironmentName(name)) {
    return MakeError("CFG-007", "env: reference with an invalid variable name (expected env:NAME with NAME "
                                "matching [A-Za-z_][A-Za-z0-9_]*)");
  }
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) {
    return MakeError("CFG-007", "env reference: the environment variable " + name +
                                    " is not set in Orthanc's environment");
  }
  if (*value == '\0') {
    return MakeError("CFG-007", "env reference: the environment variable " + name + " is empty");
  }
  return std::string(value);
}

Result<std::string> ResolveFile(const std::string& target, const std::string& baseDirectory) {
  if (target.empty()) return MakeError("CFG-007", "file: reference without a path (expected file:/path)");
  fs::path p(target);
  if (p.is_relative()) {
    std::error_code ec;
    p = (baseDirectory.empty() ? fs::current_path(ec) : fs::path(baseDirectory)) / p;
  }
  const std::string path = p.lexically_normal().string();
  const std::string what = "file reference " + Printable(target) + " cannot be resolved: ";
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) return MakeError("CFG-007", what + "file not found: " + Printable(path));
  if (!fs::is_regular_file(status)) return MakeError("CFG-007", what + "not a regular file: " + Printable(path));
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec || size > kMaxSecretFileBytes) {
    return MakeError("CFG-007", what + "larger than 64 KiB: " + Printable(path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("CFG-007", what + "not readable by this process: " + Printable(path));
  std::ostringstream content;
  content << in.rdbuf();
  std::string value = content.str();
  // One trailing line break (how `echo`, editors and Docker/Kubernetes secrets end a file).
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  if (value.empty()) return MakeError("CFG-007", what + "the file is empty: " + Printable(path));
  return value;
}

class Resolver {
 public:
  Resolver(rapidjson::Document& root, const SecretReferenceOptions& options) : root_(root), options_(options) {}

  std::vector<Diagnostic> Run() {
    if (!root_.IsObject()) return {};
    auto section = root_.FindMember(kSection);
    if (section == root_.MemberEnd() || !section->value.IsObject()) return {};
    Value& s = section->value;
    Visit(s, "RedisEncryptionKey", kSection);
    auto audit = s.FindMember("Audit");
    if (audit != s.MemberEnd() && audit->value.IsObject()) {
      const std::string auditPath = JoinPath(kSection, "Audit");
      Visit(audit->value, "ChainKey", auditPath);
      Visit(audit->value, "PreviousChainKey", auditPath);
    }
    auto servers = s.FindMember("Servers");
    if (servers == s.MemberEnd() || !servers->value.IsObject()) return std::move(diagnostics_);
    const std::string serversPath = JoinPath(kSection, "Servers");
    for (auto& server : servers->value.GetObject()) {
      if (!server.value.IsObject()) continue;
      const std::string path = JoinPath(serversPath, std::string(server.name.GetString(), server.name.GetStringLength()));
      for (const char* key : kServerSecretKeys) Visit(server.value, key, path);
      auto headers = server.value.FindMember("HttpHeaders");
      if (headers != server.value.MemberEnd() && headers->value.IsObject()) {
        const std::string headersPath = JoinPath(path, "HttpHeaders");
        for (auto& header : headers->value.GetObject()) {
          Replace(header.value, JoinPath(headersPath, std::string(header.name.GetString(), header.name.GetStringLength())));
        }
      }
    }
    return std::move(diagnostics_);
  }

  Result<std::string> ResolveOne(const Reference& ref) { return Resolve(ref); }

 private:
  void Visit(Value& object, const char* key, const std::string& parent) {
    auto it = object.FindMember(key);
    if (it != object.MemberEnd()) Replace(it->value, JoinPath(parent, key));
  }

  void Replace(Value& value, const std::string& path) {
    if (!value.IsString()) return;  // the parser reports the wrong type
    const std::string text(value.GetString(), value.GetStringLength());
    const std::optional<Reference> ref = Split(text, &options_);
    if (!ref) return;
    Result<std::string> resolved = Resolve(*ref);
    if (!resolved.Ok()) {
      diagnostics_.push_back({Severity::Error, "CFG-007", path, resolved.GetError().message});
      return;
    }
    const std::string& secret = resolved.Value();
    value.SetString(secret.c_str(), static_cast<rapidjson::SizeType>(secret.size()), root_.GetAllocator());
  }

  Result<std::string> Resolve(const Reference& ref) {
    if (ref.kind == "literal") return ref.target;
    if (ref.kind == "env") return ResolveEnv(ref.target);
    if (ref.kind == "file") return ResolveFile(ref.target, options_.baseDirectory);
    const auto it = options_.resolvers.find(ref.kind);
    if (it == options_.resolvers.end() || !it->second) {
      return MakeError("CFG-007", ref.kind + ": references cannot be resolved here (no " + ref.kind +
                                      " resolver is enabled); the value is not used literally");
    }
    Result<std::string> value = it->second(ref.target);
    if (!value.Ok()) {
      return MakeError("CFG-007", ref.kind + ": reference cannot be resolved: " + value.GetError().ToString());
    }
    if (value.Value().empty()) return MakeError("CFG-007", ref.kind + ": reference resolved to an empty value");
    return value;
  }

  rapidjson::Document& root_;
  const SecretReferenceOptions& options_;
  std::vector<Diagnostic> diagnostics_;
};

}  // namespace

bool IsSecretReference(const std::string& value) { return Split(value, nullptr).has_value(); }

Result<std::string> ResolveSecretReference(const std::string& value, const SecretReferenceOptions& options) {
  const std::optional<Reference> ref = Split(value, &options);
  if (!ref) {
    return MakeError("CFG-007", "not a secret reference (expected env:NAME, file:PATH, literal:TEXT or another "
                                "enabled kind such as keyvault:URL)");
  }
  rapidjson::Document unused;
  return Resolver(unused, options).ResolveOne(*ref);
}

std::vector<Diagnostic> ResolveSecretReferences(rapidjson::Document& orthancRoot,
                                                const SecretReferenceOptions& options) {
  return Resolver(orthancRoot, options).Run();
}

}  // namespace gw::config
