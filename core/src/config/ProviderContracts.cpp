#include "gw/config/ProviderContracts.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gw/common/Json.h"
#include "gw/config/ConfigParser.h"
#include "gw/config/JsonPath.h"
#include "gw/config/ProviderResolver.h"
#include "gw/config/SecretReferences.h"

namespace gw::config {
namespace {

namespace fs = std::filesystem;
using rapidjson::Value;

constexpr std::streamsize kMaxReferencingFile = 1024 * 1024;

std::string ServerPath(const std::string& name) { return JoinPath(JoinPath("DicomWebOAuth", "Servers"), name); }

bool IsGatewayKey(const std::string& key) {
  const auto& keys = GatewayServerKeys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

void AddUnique(std::vector<std::string>& list, const std::string& value) {
  if (!value.empty() && std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

// Absolute paths at the dotted `fields` of a JSON file (a Google external_account credential's
// credential_source.file). An unreadable file names none: the script reports the real problem.
// Only absolute paths: a relative one would depend on the working directory of Orthanc.
std::vector<std::string> ReferencedFiles(const std::string& file, const std::vector<std::string>& fields) {
  std::vector<std::string> out;
  if (fields.empty()) return out;
  std::ifstream in(file, std::ios::binary);
  if (!in) return out;
  std::string text(static_cast<size_t>(kMaxReferencingFile) + 1, '\0');
  in.read(text.data(), kMaxReferencingFile + 1);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > static_cast<size_t>(kMaxReferencingFile)) return out;
  auto parsed = json::Parse(text, "CFG-002");  // bounded: the file is not ours
  std::fill(text.begin(), text.end(), '\0');  // it may hold a private key
  if (!parsed.Ok()) return out;
  for (const std::string& field : fields) {
    const Value* at = &parsed.Value();
    size_t start = 0;
    while (at != nullptr && start <= field.size()) {
      const size_t dot = field.find('.', start);
      const std::string part = field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!at->IsObject()) {
        at = nullptr;
        break;
      }
      const auto it = at->FindMember(part.c_str());
      at = it == at->MemberEnd() ? nullptr : &it->value;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (at != nullptr && at->IsString() && at->GetStringLength() > 0 && at->GetString()[0] == '/') {
      out.emplace_back(at->GetString(), at->GetStringLength());
    }
  }
  return out;
}

ClientAuthMethod ToClientAuthMethod(const std::string& name) {
  for (ClientAuthMethod m : {ClientAuthMethod::ClientSecretPost, ClientAuthMethod::ClientSecretBasic,
                             ClientAuthMethod::ClientSecretJwt, ClientAuthMethod::PrivateKeyJwt,
                             ClientAuthMethod::TlsClientAuth, ClientAuthMethod::SelfSignedTlsClientAuth}) {
    if (name == ToString(m)) return m;
  }
  return ClientAuthMethod::None;
}

// A file the environment names: only absolute paths count (as the SDKs that read these variables).
std::string FileFromEnvironment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  return value != nullptr && *value == '/' ? std::string(value) : std::string();
}

class Applier {
 public:
  Applier(const ParseOptions* options, std::vector<Diagnostic>& out) : options_(options), out_(out) {}

  // `raw`: the server's object, rewritten in place when options_ is set (resolution); read only
  // otherwise (a reload's verification).
  void Run(const std::string& name, const ProviderResolution& resolved, const ContractSchema* schema, Value& raw,
           rapidjson::Document::AllocatorType* allocator, ServerConfig* server) {
    const std::string path = ServerPath(name);
    // Keys the Python plugin's configurations carry on any server: accepted whatever the provider,
    // and the secret ones resolved and masked wherever they appear (also for a provider without
    // a schema, which reads its own keys undeclared, as before schemas existed).
    for (const auto& [key, field] : CompatibilityKeys()) {
      const auto it = raw.FindMember(key.c_str());
      if (it == raw.MemberEnd() || !field.secret || (schema != nullptr && schema->Find(key) != nullptr)) continue;
      ResolveSecret(it->value, JoinPath(path, key), allocator);
      if (server != nullptr && it->value.IsString() && it->value.GetStringLength() > 0) {
        AddUnique(server->secrets, std::string(it->value.GetString(), it->value.GetStringLength()));
      }
    }
    if (schema == nullptr) return;
    std::vector<std::string> known = GatewayServerKeys();
    for (const auto& [key, field] : schema->Properties()) known.push_back(key);
    for (const auto& [key, field] : CompatibilityKeys()) known.push_back(key);
    if (options_ != nullptr) {
      for (const auto& member : raw.GetObject()) {
        const std::string key(member.name.GetString(), member.name.GetStringLength());
        if (std::find(known.begin(), known.end(), key) == known.end() && !IsMisplacedServerKey(key)) {
          out_.push_back(UnknownKeyWarning(JoinPath(path, key), key, known));
        }
      }
    }
    const std::string by = "by the " + resolved.script + " provider (" + resolved.reason + ")";
    for (const std::string& key : schema->Required()) {
      if (!raw.HasMember(key.c_str())) out_.push_back({Severity::Error, "CFG-001", JoinPath(path, key), "required " + by});
    }
    for (const auto& [key, field] : schema->Properties()) {
      const auto it = raw.FindMember(key.c_str());
      if (it == raw.MemberEnd()) {
        Fallback(*field, server);
        continue;
      }
      // The gateway reads its own keys (types, files, references): only what the schema adds
      // (the script reads the file too; the value is a secret) is taken from it.
      if (!IsGatewayKey(key)) Check(key, *field, it->value, JoinPath(path, key), schema, allocator);
      if (server != nullptr && it->value.IsString() && it->value.GetStringLength() > 0) {
        const std::string value(it->value.GetString(), it->value.GetStringLength());
        if (field->secret) AddUnique(server->secrets, value);
        if (field->file) AddFile(*field, value, server);
      }
    }
    // Which keys depend on which (the schema's rules, on the values the script will receive).
    schema->CheckRules(raw, path, out_);
    if (options_ != nullptr && allocator != nullptr) schema->Complete(raw, *allocator);
    if (server == nullptr) return;
    // For the status view: the client authentication the provider's schema decided.
    if (const auto method = schema->Effective("ClientAuthMethod", raw)) server->clientAuthMethod = ToClientAuthMethod(*method);
    for (const auto& [env, what] : schema->Env()) {
      AddUnique(server->access.envNames, env);
      if (what.secret) AddUnique(server->access.secretEnvNames, env);
      if (what.file) AddUnique(server->access.files, FileFromEnvironment(env));
    }
  }

  static const std::map<std::string, SchemaField>& CompatibilityKeys() {
    static const std::map<std::string, SchemaField> kKeys = [] {
      std::map<std::string, SchemaField> keys;
      for (const char* key : {"ClientId", "TenantId", "Audience", "Region", "SigningService"}) keys[key] = SchemaField{};
      SchemaField secret;
      secret.type = SchemaField::Type::String;
      secret.secret = true;
      for (const char* key : {"ClientSecret", "ClientKeyPassword", "Token"}) keys[key] = secret;
      return keys;
    }();
    return kKeys;
  }

 private:
  // Replaces a secret reference by the secret (CFG-007 and false when it cannot be resolved).
  bool ResolveSecret(Value& value, const std::string& path, rapidjson::Document::AllocatorType* allocator) {
    if (options_ == nullptr || allocator == nullptr || !value.IsString()) return true;
    const std::string text(value.GetString(), value.GetStringLength());
    if (!IsSecretReference(text)) return true;
    Result<std::string> secret =
        ResolveSecretReference(text, SecretReferenceOptions{options_->baseDirectory, options_->secretResolvers});
    if (!secret.Ok()) {
      out_.push_back({Severity::Error, "CFG-007", path, secret.GetError().message});
      return false;
    }
    value.SetString(secret.Value().c_str(), static_cast<rapidjson::SizeType>(secret.Value().size()), *allocator);
    return true;
  }

  void Check(const std::string& key, const SchemaField& field, Value& value, const std::string& path,
             const ContractSchema* schema, rapidjson::Document::AllocatorType* allocator) {
    const bool required = std::find(schema->Required().begin(), schema->Required().end(), key) != schema->Required().end();
    if (value.IsString() && value.GetStringLength() == 0 && (field.secret || field.file || required)) {
      static const std::vector<VariableUse> kNone;
      const auto& uses = options_ != nullptr && options_->variables != nullptr ? options_->variables->At(path) : kNone;
      out_.push_back({Severity::Error, "CFG-003", path, EmptyValueMessage(key, uses)});
      return;
    }
    if (field.secret && !ResolveSecret(value, path, allocator)) return;
    const size_t before = out_.size();
    ContractSchema::CheckValue(field, value, path, out_);
    if (out_.size() != before || !field.file || options_ == nullptr || allocator == nullptr) return;
    fs::path p(std::string(value.GetString(), value.GetStringLength()));
    if (p.is_relative()) {
      std::error_code ec;
      p = (options_->baseDirectory.empty() ? fs::current_path(ec) : fs::path(options_->baseDirectory)) / p;
    }
    const std::string resolved = p.lexically_normal().string();
    value.SetString(resolved.c_str(), static_cast<rapidjson::SizeType>(resolved.size()), *allocator);
    if (options_->checkFiles) CheckReadable(resolved, path, !field.appearsLater);
  }

  // A key the script reads from the environment when it is absent.
  void Fallback(const SchemaField& field, ServerConfig* server) {
    if (server == nullptr || field.env.empty()) return;
    AddUnique(server->access.envNames, field.env);
    if (field.secret) AddUnique(server->access.secretEnvNames, field.env);
    if (field.file) {
      const std::string file = FileFromEnvironment(field.env);
      if (!file.empty()) AddFile(field, file, server);
    }
  }

  void AddFile(const SchemaField& field, const std::string& file, ServerConfig* server) {
    AddUnique(server->access.files, file);
    for (const std::string& ref : ReferencedFiles(file, field.fileRefs)) AddUnique(server->access.files, ref);
  }

  void CheckReadable(const std::string& file, const std::string& path, bool mustExist) {
    std::error_code ec;
    const fs::file_status status = fs::status(file, ec);
    if (!fs::exists(status)) {
      if (mustExist) out_.push_back({Severity::Error, "CFG-002", path, "file not found: " + file});
      else out_.push_back({Severity::Warning, "CFG-002", path, "file does not exist yet: " + file});
      return;
    }
    if (fs::is_directory(status)) {
      out_.push_back({Severity::Error, "CFG-002", path, "is a folder, a file is expected: " + file});
      return;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) out_.push_back({Severity::Error, "CFG-002", path, "file not readable by this process: " + file});
  }

  const ParseOptions* options_;
  std::vector<Diagnostic>& out_;
};

const ContractSchema* SchemaOf(const ProviderContracts& contracts, const std::string& script) {
  const auto it = contracts.find(script);
  return it != contracts.end() ? it->second.get() : nullptr;
}

}  // namespace

std::vector<Diagnostic> ApplyProviderContracts(GatewayConfig& config, const ProviderContracts& contracts,
                                               const ParseOptions& options) {
  std::vector<Diagnostic> out;
  for (auto& [name, server] : config.servers) {
    if (!server.raw || !server.raw->IsObject()) continue;
    const ProviderResolution resolved = ResolveProvider(server);
    const ContractSchema* schema = SchemaOf(contracts, resolved.script);
    // Every script reads the TLS files (oauth.tls_options).
    AddUnique(server.access.files, server.caBundle);
    auto raw = std::make_shared<rapidjson::Document>();
    raw->CopyFrom(*server.raw, raw->GetAllocator());
    Applier(&options, out).Run(name, resolved, schema, *raw, &raw->GetAllocator(), &server);
    server.raw = std::move(raw);
  }
  return out;
}

std::vector<Diagnostic> VerifyProviderContracts(const GatewayConfig& config, const ProviderContracts& contracts) {
  std::vector<Diagnostic> out;
  for (const auto& [name, server] : config.servers) {
    if (!server.raw || !server.raw->IsObject()) continue;
    const ProviderResolution resolved = ResolveProvider(server);
    const ContractSchema* schema = SchemaOf(contracts, resolved.script);
    if (schema == nullptr) continue;
    rapidjson::Document copy;
    copy.CopyFrom(*server.raw, copy.GetAllocator());
    Applier(nullptr, out).Run(name, resolved, schema, copy, nullptr, nullptr);
  }
  out.erase(std::remove_if(out.begin(), out.end(), [](const Diagnostic& d) { return d.severity != Severity::Error; }),
            out.end());
  return out;
}

}  // namespace gw::config
