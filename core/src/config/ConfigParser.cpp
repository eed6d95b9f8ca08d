#include "gw/config/ConfigParser.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>

#include "gw/common/Encoding.h"
#include "gw/common/Json.h"
#include "gw/common/JsonNumber.h"
#include "gw/config/ConfigKeys.h"
#include "gw/config/HttpUrl.h"
#include "gw/config/JsonPath.h"
#include "gw/config/ProviderContracts.h"
#include "gw/config/ProviderResolver.h"
#include "gw/config/ProxyModeChecks.h"
#include "gw/config/RedisUrl.h"
#include "gw/config/SecretReferences.h"

#ifndef GW_DEFAULT_SCRIPT_DIR
#define GW_DEFAULT_SCRIPT_DIR "/usr/local/share/dicomweb-oauth/lua"
#endif

namespace gw::config {

const char* DefaultScriptDirectory() { return GW_DEFAULT_SCRIPT_DIR; }

namespace {

namespace fs = std::filesystem;
using rapidjson::Value;

const char* const kSection = "DicomWebOAuth";

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool EndsWith(const std::string& text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

bool IsServerName(const std::string& name) {
  if (name.empty()) return false;
  bool onlyDots = true;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
    if (c != '.') onlyDots = false;
  }
  return !onlyDots;  // "." and ".." would be path segments in the routes that carry the name
}

bool IsScriptName(const std::string& name) { return IsServerName(name); }

bool IsHeaderName(const std::string& name) {
  static const std::string kExtra = "!#$%&'*+-.^_`|~";
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kExtra.find(c) != std::string::npos;
  });
}

bool HasLineBreakOrNul(const std::string& value) {
  return value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos;
}

// 64 hex digits, or standard / URL-safe base64 (padding optional), decoding to 32 bytes.
std::optional<std::string> DecodeAes256Key(const std::string& text) {
  if (text.size() == 64) {
    Result<std::string> hex = encoding::HexDecode(text);
    if (hex.Ok()) return std::move(hex).Value();
  }
  // The strict decoder takes the standard alphabet with its padding: both forms are brought to it.
  std::string body = text;
  while (!body.empty() && body.back() == '=') body.pop_back();
  std::replace(body.begin(), body.end(), '-', '+');
  std::replace(body.begin(), body.end(), '_', '/');
  body.append((4 - body.size() % 4) % 4, '=');
  Result<std::string> decoded = encoding::Base64Decode(body);
  if (!decoded.Ok() || decoded.Value().size() != 32) return std::nullopt;
  return std::move(decoded).Value();
}

// Where the Redis encryption key comes from when the configuration has no RedisEncryptionKey.
constexpr const char* kRedisKeyEnvironmentVariable = "DICOMWEB_OAUTH_REDIS_KEY";

using Empty = EmptyString;

// The parser's working state; ConfigParser::Parse is a thin wrapper around it.
class Parser {
 public:
  explicit Parser(const ParseOptions& options) : options_(options) {}

  ParseResult Run(const Value& root) {
    ParseResult result;
    if (!root.IsObject()) {
      Error("CFG-002", "", "the Orthanc configuration must be a JSON object");
      result.diagnostics = std::move(diagnostics_);
      return result;
    }
    const auto section = root.FindMember(kSection);
    if (section == root.MemberEnd()) {
      result.section = SectionStatus::Missing;
      return result;
    }
    result.section = SectionStatus::Present;
    GatewayConfig& config = result.bestEffort;
    ParseOrthancSettings(root, config.orthanc);
    if (!section->value.IsObject()) {
      Error("CFG-002", kSection, "must be a JSON object");
    } else {
      ParseGlobal(section->value, config);
    }
    result.diagnostics = std::move(diagnostics_);
    if (!HasErrors(result.diagnostics)) result.config = result.bestEffort;
    return result;
  }

 private:
  // --- diagnostics ---------------------------------------------------------------------------

  void Error(const char* code, const std::string& path, std::string message) {
    diagnostics_.push_back({Severity::Error, code, path, std::move(message)});
  }
  void Warning(const char* code, const std::string& path, std::string message) {
    diagnostics_.push_back({Severity::Warning, code, path, std::move(message)});
  }

  // CFG-003, naming the ${VAR} that produced the empty value when the raw text is known.
  void EmptyAfterSubstitution(const std::string& path, const std::string& key) {
    static const std::vector<VariableUse> kNone;
    Error("CFG-003", path, EmptyValueMessage(key, options_.variables ? options_.variables->At(path) : kNone));
  }

  // CFG-004 for the keys of `object` that are not in its table, with a hint where one belongs.
  void CheckUnknownKeys(const Value& object, const std::string& path, KeyObject here) {
    const std::vector<std::string>& known = KeyNames(here);
    for (const auto& member : object.GetObject()) {
      const std::string key(member.name.GetString(), member.name.GetStringLength());
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      if (const std::string where = Elsewhere(key, path, here); !where.empty()) {
        Warning("CFG-004", JoinPath(path, key), "misplaced key, ignored: `" + key + "` " + where);
        continue;
      }
      diagnostics_.push_back(UnknownKeyWarning(JoinPath(path, key), key, known));
    }
  }

  // Keys of another gateway object written on a server (retry and circuit keys instead of in its
  // ResilienceConfig were silently lost otherwise): reported here for every server, whatever its
  // provider; the provider's contract checks the rest (ProviderContracts.cpp skips these).
  void CheckMisplacedServerKeys(const Value& object, const std::string& path) {
    for (const auto& member : object.GetObject()) {
      const std::string key(member.name.GetString(), member.name.GetStringLength());
      if (!IsMisplacedServerKey(key)) continue;
      Warning("CFG-004", JoinPath(path, key),
              "misplaced key, ignored: `" + key + "` " + Elsewhere(key, path, KeyObject::Server));
    }
  }

  // --- typed readers: absent -> nullopt without diagnostic; invalid -> diagnostic + nullopt -----

  static const Value* Find(const Value& object, const char* key) {
    const auto it = object.FindMember(key);
    return it == object.MemberEnd() ? nullptr : &it->value;
  }

  std::optional<bool> ReadBool(const Value& object, const char* key, const std::string& parent) {
    const Value* v = Find(object, key);
    if (!v) return std::nullopt;
    if (!v->IsBool()) {
      Error("CFG-002", JoinPath(parent, key), "must be true or false");
      return std::nullopt;
    }
    return v->GetBool();
  }

  std::optional<int64_t> ReadInteger(const Value& object, const char* key, const std::string& parent,
                                     int64_t min, int64_t max) {
    const Value* v = Find(object, key);
    if (!v) return std::nullopt;
    const std::string path = JoinPath(parent, key);
    int64_t value = 0;
    if (auto whole = json::WholeNumber(*v)) {
      value = *whole;
    } else if (v->IsUint64()) {
      value = std::numeric_limits<int64_t>::max();
    } else {
      Error("CFG-002", path, "must be an integer");
      return std::nullopt;
    }
    if (value < min || value > max) {
      Error("CFG-002", path,
            "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                (v->IsUint64() && !v->IsInt64() ? "" : " (got " + std::to_string(value) + ")"));
      return std::nullopt;
    }
    return value;
  }

  std::optional<double> ReadNumber(const Value& object, const char* key, const std::string& parent, double min,
                                   bool minExclusive, double max) {
    const Value* v = Find(object, key);
    if (!v) return std::nullopt;
    const std::string path = JoinPath(parent, key);
    if (!v->IsNumber() || !std::isfinite(v->GetDouble())) {
      Error("CFG-002", path, "must be a number");
      return std::nullopt;
    }
    const double value = v->GetDouble();
    if ((minExclusive ? value <= min : value < min) || value > max) {
      std::string range = minExclusive ? "greater than " + Short(min) : "at least " + Short(min);
      range += " and at most " + Short(max);
      Error("CFG-002", path, "must be " + range + " (got " + Short(value) + ")");
      return std::nullopt;
    }
    return value;
  }

  static std::string Short(double value) {
    std::string text = std::to_string(value);
    while (!text.empty() && text.back() == '0') text.pop_back();
    if (!text.empty() && text.back() == '.') text.pop_back();
    return text;
  }

  std::optional<std::string> ReadString(const Value& object, const char* key, const std::string& parent,
                                        Empty empty) {
    const Value* v = Find(object, key);
    if (!v) return std::nullopt;
    const std::string path = JoinPath(parent, key);
    if (!v->IsString()) {
      Error("CFG-002", path, "must be a string");
      return std::nullopt;
    }
    std::string value(v->GetString(), v->GetStringLength());
    if (value.empty()) {
      if (empty == Empty::Substitution) {
        EmptyAfterSubstitution(path, key);
        return std::nullopt;
      }
      if (empty == Empty::Invalid) {
        Error("CFG-002", path, "must not be empty");
        return std::nullopt;
      }
    }
    return value;
  }

  // A case-insensitive choice among `allowed`; returns the lower-case form.
  std::optional<std::string> ReadChoice(const Value& object, const char* key, const std::string& parent,
                                        const std::vector<std::string>& allowed) {
    const std::optional<std::string> text = ReadString(object, key, parent, Empty::Allowed);
    if (!text) return std::nullopt;
    const std::string lower = Lower(*text);
    if (std::find(allowed.begin(), allowed.end(), lower) == allowed.end()) {
      Error("CFG-002", JoinPath(parent, key), "must be one of: " + Join(allowed) + " (case-insensitive)");
      return std::nullopt;
    }
    return lower;
  }

  std::optional<std::vector<std::string>> ReadStringArray(const Value& object, const char* key,
                                                          const std::string& parent) {
    const Value* v = Find(object, key);
    if (!v) return std::nullopt;
    const std::string path = JoinPath(parent, key);
    if (!v->IsArray()) {
      Error("CFG-002", path, "must be an array of strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    size_t index = 0;
    for (const Value& item : v->GetArray()) {
      if (!item.IsString() || item.GetStringLength() == 0) {
        Error("CFG-002", JoinIndex(path, index), "must be a non-empty string");
        ok = false;
      } else {
        out.emplace_back(item.GetString(), item.GetStringLength());
      }
      ++index;
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<std::map<std::string, std::string>> ReadStringMap(const Value& object, const char* key,
                                                                  const std::string& parent) {
    const Value* v = Find(object, key);
    if (!v) return std::nullopt;
    const std::string path = JoinPath(parent, key);
    if (!v->IsObject()) {
      Error("CFG-002", path, "must be an object of string values");
      return std::nullopt;
    }
    std::map<std::string, std::string> out;
    bool ok = true;
    for (const auto& member : v->GetObject()) {
      const std::string name(member.name.GetString(), member.name.GetStringLength());
      if (!member.value.IsString()) {
        Error("CFG-002", JoinPath(path, name), "must be a string");
        ok = false;
        continue;
      }
      if (name.empty()) {
        Error("CFG-002", path, "contains an empty name");
        ok = false;
        continue;
      }
      out[name] = std::string(member.value.GetString(), member.value.GetStringLength());
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // --- the key tables (ConfigKeys.h) -----------------------------------------------------------

  // Reads every key of `specs` that has a target into `out`; the others are the caller's.
  template <class T>
  void ReadKeys(const Value& object, const std::string& p, const std::vector<KeySpec<T>>& specs, T& out) {
    for (const KeySpec<T>& k : specs) {
      if (k.type == KeyType::Choice) {
        ReadChoiceKey(object, p, k, out);
        continue;
      }
      std::visit([&](auto member) { Assign(object, p, k, member, out); }, k.target);
    }
  }

  template <class T>
  void ReadChoiceKey(const Value& object, const std::string& p, const KeySpec<T>& k, T& out) {
    auto* member = std::get_if<std::string T::*>(&k.target);
    if (member == nullptr && k.setChoice == nullptr) return;
    const std::optional<std::string> v = ReadChoice(object, k.name.c_str(), p, k.choices);
    if (!v) return;
    if (member != nullptr) out.**member = *v;
    if (k.setChoice != nullptr) {
      k.setChoice(out, static_cast<size_t>(std::find(k.choices.begin(), k.choices.end(), *v) - k.choices.begin()));
    }
  }

  template <class T>
  void Assign(const Value&, const std::string&, const KeySpec<T>&, std::monostate, T&) {}

  template <class T>
  void Assign(const Value& object, const std::string& p, const KeySpec<T>& k, bool T::*member, T& out) {
    if (auto v = ReadBool(object, k.name.c_str(), p)) out.*member = *v;
  }

  template <class T>
  void Assign(const Value& object, const std::string& p, const KeySpec<T>& k, std::optional<bool> T::*member, T& out) {
    if (auto v = ReadBool(object, k.name.c_str(), p)) out.*member = *v;
  }

  template <class T>
  void Assign(const Value& object, const std::string& p, const KeySpec<T>& k, int T::*member, T& out) {
    if (auto v = ReadInteger(object, k.name.c_str(), p, static_cast<int64_t>(k.minimum), static_cast<int64_t>(k.maximum))) {
      out.*member = static_cast<int>(*v);
    }
  }

  template <class T>
  void Assign(const Value& object, const std::string& p, const KeySpec<T>& k, std::optional<int> T::*member, T& out) {
    if (auto v = ReadInteger(object, k.name.c_str(), p, static_cast<int64_t>(k.minimum), static_cast<int64_t>(k.maximum))) {
      out.*member = static_cast<int>(*v);
    }
  }

  template <class T>
  void Assign(const Value& object, const std::string& p, const KeySpec<T>& k, double T::*member, T& out) {
    if (auto v = ReadNumber(object, k.name.c_str(), p, k.minimum, k.minimumExclusive, k.maximum)) out.*member = *v;
  }

  template <class T>
  void Assign(const Value& object, const std::string& p, const KeySpec<T>& k, std::string T::*member, T& out) {
    if (k.type == KeyType::File) {
      if (auto v = ReadFileKey(object, k.name.c_str(), p)) out.*member = *v;
    } else if (auto v = ReadString(object, k.name.c_str(), p, k.empty)) {
      out.*member = *v;
    }
  }

  // --- paths -----------------------------------------------------------------------------------

  std::string Resolve(const std::string& path) const {
    fs::path p(path);
    if (p.is_relative()) {
      std::error_code ec;
      fs::path base = options_.baseDirectory.empty() ? fs::current_path(ec) : fs::path(options_.baseDirectory);
      p = base / p;
    }
    return p.lexically_normal().string();
  }

  // A file key: resolved, and (with checkFiles) checked to be a readable regular file.
  std::optional<std::string> ReadFileKey(const Value& object, const char* key, const std::string& parent,
                                         bool mustExist = true) {
    const std::optional<std::string> text = ReadString(object, key, parent, Empty::Substitution);
    if (!text) return std::nullopt;
    const std::string resolved = Resolve(*text);
    if (options_.checkFiles) CheckReadableFile(resolved, JoinPath(parent, key), mustExist);
    SetRawString(key, resolved);
    return resolved;
  }

  // The "type" of a Google credential file (CredentialsFile), which ProviderType auto uses to pick
  // the google provider. CFG-002 for a file that is not a Google credential the provider can use;
  // "" when the file cannot be read (CheckReadableFile reported that) or is refused. Only the type
  // is ever quoted: the file holds a private key or a client secret.
  std::string ReadCredentialsType(const std::string& file, const std::string& path) {
    constexpr std::streamoff kMaxBytes = 1024 * 1024;
    std::ifstream in(file, std::ios::binary);
    if (!in) return {};
    std::string text;
    text.resize(static_cast<size_t>(kMaxBytes) + 1);
    in.read(text.data(), kMaxBytes + 1);
    text.resize(static_cast<size_t>(in.gcount()));
    if (static_cast<std::streamoff>(text.size()) > kMaxBytes) {
      Error("CFG-002", path, "is larger than 1 MiB: not a Google credential file (" + file + ")");
      return {};
    }
    auto parsed = json::Parse(text, "CFG-002");  // bounded: the file is not ours
    std::fill(text.begin(), text.end(), '\0');  // the text holds a private key or a secret
    rapidjson::Document doc;
    if (parsed.Ok()) doc = std::move(parsed).Value();
    const Value* type = nullptr;
    if (doc.IsObject()) {
      const auto it = doc.FindMember("type");
      if (it != doc.MemberEnd() && it->value.IsString()) type = &it->value;
    }
    if (type == nullptr) {
      Error("CFG-002", path,
            "is not a Google credential file (a JSON object with a \"type\" field): " + file);
      return {};
    }
    std::string value(type->GetString(), std::min<size_t>(type->GetStringLength(), 64));
    if (IsGoogleCredentialType(value)) return value;
    if (value == "authorized_user") {
      Error("CFG-002", path,
            "is a gcloud user credential (\"type\": \"authorized_user\"), which holds a person's refresh token "
            "and is not used on a server: use a service account key (\"service_account\") or a workload "
            "identity federation file (\"external_account\")");
    } else {
      Error("CFG-002", path,
            "has \"type\": \"" + value + "\"; the google provider reads \"service_account\" and "
            "\"external_account\" files only");
    }
    return {};
  }

  void SetRawString(const char* key, const std::string& value) {
    if (raw_ == nullptr) return;
    const auto it = raw_->FindMember(key);
    if (it != raw_->MemberEnd()) it->value.SetString(value.c_str(), static_cast<rapidjson::SizeType>(value.size()), raw_->GetAllocator());
  }

  void CheckReadableFile(const std::string& file, const std::string& path, bool mustExist) {
    std::error_code ec;
    const fs::file_status status = fs::status(file, ec);
    if (!fs::exists(status)) {
      if (mustExist) Error("CFG-002", path, "file not found: " + file);
      else Warning("CFG-002", path, "file does not exist yet: " + file);
      return;
    }
    if (fs::is_directory(status)) {
      Error("CFG-002", path, "is a folder, a file is expected: " + file);
      return;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) Error("CFG-002", path, "file not readable by this process: " + file);
  }

  // --- sections --------------------------------------------------------------------------------

  void ParseOrthancSettings(const Value& root, OrthancSettings& out) {
    if (auto port = ReadInteger(root, "HttpPort", "", 1, 65535)) out.httpPort = static_cast<int>(*port);
    if (const Value* auth = Find(root, "AuthenticationEnabled"); auth && auth->IsBool()) {
      out.authenticationEnabled = auth->GetBool();
      out.authenticationRequired = out.authenticationEnabled;
    } else if (const Value* remote = Find(root, "RemoteAccessAllowed"); remote && remote->IsBool()) {
      out.authenticationRequired = remote->GetBool();
    }
    if (const Value* users = Find(root, "RegisteredUsers"); users && users->IsObject()) {
      for (const auto& user : users->GetObject()) out.registeredUsers.emplace_back(user.name.GetString());
    }
    const Value* dicomWeb = Find(root, "DicomWeb");
    if (!dicomWeb) return;
    if (!dicomWeb->IsObject()) {
      Error("CFG-002", "DicomWeb", "must be a JSON object");
      return;
    }
    if (auto inDb = ReadBool(*dicomWeb, "ServersInDatabase", "DicomWeb")) out.dicomWebServersInDatabase = *inDb;
    const Value* servers = Find(*dicomWeb, "Servers");
    if (!servers) return;
    const std::string serversPath = "DicomWeb.Servers";
    if (!servers->IsObject()) {
      Error("CFG-002", serversPath, "must be a JSON object (server name -> definition)");
      return;
    }
    for (const auto& member : servers->GetObject()) {
      const std::string name(member.name.GetString(), member.name.GetStringLength());
      const std::string path = JoinPath(serversPath, name);
      const Value& v = member.value;
      DicomWebServerDefinition def;
      if (v.IsString()) {
        def.url = v.GetString();
      } else if (v.IsArray()) {
        const auto items = v.GetArray();
        const bool allStrings = std::all_of(items.begin(), items.end(), [](const Value& i) { return i.IsString(); });
        if (!allStrings || (items.Size() != 1 && items.Size() != 3)) {
          Error("CFG-002", path, "the array form must be [url] or [url, username, password]");
          continue;
        }
        def.url = items[0].GetString();
        if (items.Size() == 3) {
          def.username = items[1].GetString();
          def.password = items[2].GetString();
        }
      } else if (v.IsObject()) {
        const std::optional<std::string> url = ReadString(v, "Url", path, Empty::Allowed);
        if (!url && !Find(v, "Url")) Error("CFG-001", JoinPath(path, "Url"), "required");
        def.url = url.value_or("");
        def.username = ReadString(v, "Username", path, Empty::Allowed).value_or("");
        def.password = ReadString(v, "Password", path, Empty::Allowed).value_or("");
        def.httpHeaders = ReadStringMap(v, "HttpHeaders", path).value_or(std::map<std::string, std::string>{});
        auto raw = std::make_shared<rapidjson::Document>();
        raw->CopyFrom(v, raw->GetAllocator());
        def.raw = std::move(raw);
      } else {
        Error("CFG-002", path, "must be a URL string, an array [url, username, password] or an object");
        continue;
      }
      out.dicomWebServers[name] = std::move(def);
    }
  }

  void ParseGlobal(const Value& section, GatewayConfig& config) {
    const std::string p = kSection;
    GlobalConfig& g = config.global;
    CheckUnknownKeys(section, p, KeyObject::Section);
    ReadKeys(section, p, SectionKeys(), g);

    // The Python plugin's schema version: accepted so its configurations load, but it does nothing.
    if (ReadString(section, "ConfigVersion", p, Empty::Allowed)) {
      Warning("CFG-006", JoinPath(p, "ConfigVersion"),
              "accepted for compatibility with the Python plugin and ignored: it changes nothing here");
    }
    if (auto v = ReadString(section, "LogLevel", p, Empty::Invalid)) {
      LogLevel level;
      const std::string lower = Lower(*v);
      if (lower == "critical" || lower == "fatal") {
        g.logLevel = LogLevel::Error;  // Python logging's CRITICAL
      } else if (ParseLogLevel(lower, level)) {
        g.logLevel = level;
      } else {
        Error("CFG-002", JoinPath(p, "LogLevel"),
              "must be one of: error, warning, info, debug (also critical, trace; case-insensitive)");
      }
    }
    if (auto v = ReadString(section, "LogFormat", p, Empty::Invalid)) {
      LogFormat format;
      if (ParseLogFormat(*v, format)) {
        g.logFormat = format;
      } else {
        Error("CFG-002", JoinPath(p, "LogFormat"), "must be \"text\" (the default) or \"json\" (case-insensitive)");
      }
    }
    ParseRedis(section, g);
    ParseScriptDirectories(section, g);
    if (auto v = ReadStringArray(section, "EnvAllowlist", p)) {
      for (size_t i = 0; i < v->size(); ++i) {
        if (!IsEnvironmentName((*v)[i])) {
          Error("CFG-002", JoinIndex(JoinPath(p, "EnvAllowlist"), i),
                "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
        } else {
          g.envAllowlist.push_back((*v)[i]);
        }
      }
    }
    if (auto v = ReadStringArray(section, "FileAllowlist", p)) {
      for (size_t i = 0; i < v->size(); ++i) {
        g.fileAllowlist.push_back(Resolve((*v)[i]));
        if (g.fileAllowlist.back() == "/") {
          Warning("CFG-006", JoinIndex(JoinPath(p, "FileAllowlist"), i),
                  "lets scripts read every file this process can read");
        }
      }
    }
    ParseAudit(section, g.audit);
    if (auto v = ReadPolicyNames(section, p)) g.policies = *v;

    const Value* servers = Find(section, "Servers");
    const std::string serversPath = JoinPath(p, "Servers");
    if (!servers) {
      Error("CFG-001", serversPath, "required: an object of server name -> server settings");
      return;
    }
    if (!servers->IsObject()) {
      Error("CFG-002", serversPath, "must be a JSON object (server name -> server settings)");
      return;
    }
    if (servers->MemberCount() == 0) {
      Warning("CFG-006", serversPath, "no server is configured: the gateway has nothing to do");
    }
    for (const auto& member : servers->GetObject()) {
      ServerConfig server;
      server.name.assign(member.name.GetString(), member.name.GetStringLength());
      ParseServer(member.value, JoinPath(serversPath, server.name), config, server);
      config.servers[server.name] = std::move(server);
    }
    ParseHealth(section, config);
  }

  // After the servers: OptionalServers must name configured ones.
  void ParseHealth(const Value& section, GatewayConfig& config) {
    const Value* health = Find(section, "Health");
    if (!health) return;
    const std::string p = JoinPath(kSection, "Health");
    if (!health->IsObject()) {
      Error("CFG-002", p, "must be a JSON object such as {\"ProbeUser\": \"probe\"}");
      return;
    }
    HealthConfig& h = config.global.health;
    CheckUnknownKeys(*health, p, KeyObject::Health);
    h.acquireAtStart = true;  // the section's presence asks for it
    ReadKeys(*health, p, HealthKeys(), h);
    if (auto v = ReadString(*health, "ProbeUser", p, Empty::Allowed)) {
      h.probeUser = *v;
      if (!h.probeUser.empty() && std::find(config.orthanc.registeredUsers.begin(), config.orthanc.registeredUsers.end(), h.probeUser) ==
                                       config.orthanc.registeredUsers.end()) {
        Warning("CFG-006", JoinPath(p, "ProbeUser"),
                "'" + h.probeUser + "' is not in Orthanc's RegisteredUsers: probes cannot authenticate as it");
      }
    }
    if (auto v = ReadStringArray(*health, "OptionalServers", p)) {
      for (size_t i = 0; i < v->size(); ++i) {
        if (config.servers.count((*v)[i]) == 0) {
          Error("CFG-002", JoinIndex(JoinPath(p, "OptionalServers"), i), "'" + (*v)[i] + "' is not a configured server");
        } else {
          h.optionalServers.push_back((*v)[i]);
        }
      }
    }
  }

  void ParseRedis(const Value& section, GlobalConfig& g) {
    const std::string p = kSection;
    const std::optional<std::string> url = ReadString(section, "RedisUrl", p, Empty::Allowed);
    if (url && !url->empty()) {
      const Result<RedisEndpoint> endpoint = ParseRedisUrl(*url);
      if (endpoint.Ok()) g.redisUrl = *url;
      else Error("CFG-002", JoinPath(p, "RedisUrl"), endpoint.GetError().message);
    }
    if (g.cacheType == CacheType::Redis && (!url || url->empty())) {
      if (Find(section, "RedisUrl") && url) EmptyAfterSubstitution(JoinPath(p, "RedisUrl"), "RedisUrl");
      else if (!Find(section, "RedisUrl")) Error("CFG-001", JoinPath(p, "RedisUrl"), "required when CacheType is redis");
    }
    if (auto key = ReadString(section, "RedisEncryptionKey", p, Empty::Substitution)) {
      if (auto decoded = DecodeAes256Key(*key)) {
        g.redisEncryptionKey = *decoded;
      } else {
        Error("CFG-002", JoinPath(p, "RedisEncryptionKey"),
              "must be a 256-bit key: 64 hexadecimal digits or the base64 encoding of 32 bytes");
      }
      if (g.cacheType != CacheType::Redis) {
        Warning("CFG-006", JoinPath(p, "RedisEncryptionKey"), "ignored: CacheType is not redis");
      }
    } else if (g.cacheType == CacheType::Redis && !Find(section, "RedisEncryptionKey")) {
      // Tokens are never stored in Redis in clear: without a key the configuration is refused.
      // The key may come from the environment instead (docs/configuration.md).
      const char* env = std::getenv(kRedisKeyEnvironmentVariable);
      if (!env || !*env) {
        Error("CFG-001", JoinPath(p, "RedisEncryptionKey"),
              std::string("required when CacheType is redis (or set the environment variable ") +
                  kRedisKeyEnvironmentVariable + "): tokens are stored in Redis encrypted only");
      } else if (auto decoded = DecodeAes256Key(env)) {
        g.redisEncryptionKey = *decoded;
      } else {
        Error("CFG-002", JoinPath(p, "RedisEncryptionKey"),
              std::string("the environment variable ") + kRedisKeyEnvironmentVariable +
                  " must hold a 256-bit key: 64 hexadecimal digits or the base64 encoding of 32 bytes");
      }
    }
  }

  // `Audit` (docs/audit.md): present means on; `File` is then required.
  void ParseAudit(const Value& section, AuditConfig& a) {
    const Value* audit = Find(section, "Audit");
    if (!audit) return;
    const std::string p = JoinPath(kSection, "Audit");
    if (!audit->IsObject()) {
      Error("CFG-002", p, "must be a JSON object such as {\"File\": \"/var/log/orthanc/audit.jsonl\"}");
      return;
    }
    CheckUnknownKeys(*audit, p, KeyObject::Audit);
    a.enabled = true;
    ReadKeys(*audit, p, AuditKeys(), a);
    if (auto v = ReadString(*audit, "File", p, Empty::Substitution)) {
      a.file = Resolve(*v);
      std::error_code ec;
      if (options_.checkFiles && !fs::is_directory(fs::path(a.file).parent_path(), ec)) {
        Error("CFG-002", JoinPath(p, "File"), "the folder of the audit file does not exist: " +
                                                  fs::path(a.file).parent_path().string());
      }
    } else if (!Find(*audit, "File")) {
      Error("CFG-001", JoinPath(p, "File"), "required: the path of the audit file (JSON lines)");
    }
    if (auto v = ReadStringArray(*audit, "Rules", p)) {
      a.rules.clear();
      for (size_t i = 0; i < v->size(); ++i) {
        if (!IsScriptName((*v)[i])) {
          Error("CFG-002", JoinIndex(JoinPath(p, "Rules"), i), "must be an audit script name");
        } else {
          a.rules.push_back((*v)[i]);
        }
      }
      if (v->empty()) {
        Warning("CFG-006", JoinPath(p, "Rules"),
                "no audit rule: records are written with every field as recorded, PHI in query strings included");
      }
    }
    if (auto v = ReadString(*audit, "HashKey", p, Empty::Substitution)) {
      if (v->size() < 16) Error("CFG-002", JoinPath(p, "HashKey"), "must be at least 16 characters long");
      else a.hashKey = *v;
    }
    ParseAuditChainKey(*audit, p, a);
  }

  // The chain key (docs/audit.md, "Keyed chain"). Not required, for compatibility: without it the
  // chain is the unkeyed SHA-256 one, and both check-config and every start say so loudly.
  void ParseAuditChainKey(const Value& audit, const std::string& p, AuditConfig& a) {
    const char* keyAdvice = "must be at least 32 characters (e.g. `openssl rand -hex 32`, given as env:NAME or file:PATH)";
    if (auto v = ReadString(audit, "ChainKey", p, Empty::Substitution)) {
      if (v->size() < 32) Error("CFG-002", JoinPath(p, "ChainKey"), keyAdvice);
      else a.chainKey = *v;
    } else if (!Find(audit, "ChainKey")) {
      Warning("CFG-006", JoinPath(p, "ChainKey"),
              "not set: the audit chain is UNKEYED (plain SHA-256), so anyone able to write the file can forge, "
              "erase and reseal records undetected; set a chain key kept apart from the file");
    }
    if (auto v = ReadString(audit, "PreviousChainKey", p, Empty::Substitution)) {
      if (v->size() < 32) Error("CFG-002", JoinPath(p, "PreviousChainKey"), keyAdvice);
      else a.previousChainKey = *v;
    }
    if (auto v = ReadString(audit, "ChainKeyId", p, Empty::Substitution)) {
      const bool ok = !v->empty() && v->size() <= 64 &&
                      v->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
                          std::string::npos;
      if (!ok) Error("CFG-002", JoinPath(p, "ChainKeyId"), "must be 1 to 64 characters among A-Z a-z 0-9 . _ -");
      else a.chainKeyId = *v;
    }
    if (!a.chainKeyId.empty() && a.chainKey.empty() && !Find(audit, "ChainKey")) {
      Error("CFG-001", JoinPath(p, "ChainKey"), "required when ChainKeyId is set");
    }
    if (!a.previousChainKey.empty() && a.previousChainKey == a.chainKey) {
      Error("CFG-002", JoinPath(p, "PreviousChainKey"), "is the same key as ChainKey: a rotation needs a new key");
    }
    if (auto v = ReadString(audit, "CheckpointFile", p, Empty::Substitution)) {
      a.checkpointFile = Resolve(*v);
      std::error_code ec;
      if (options_.checkFiles && !fs::is_directory(fs::path(a.checkpointFile).parent_path(), ec)) {
        Error("CFG-002", JoinPath(p, "CheckpointFile"), "the folder of the checkpoint file does not exist: " +
                                                            fs::path(a.checkpointFile).parent_path().string());
      } else if (a.checkpointFile == a.file) {
        Error("CFG-002", JoinPath(p, "CheckpointFile"), "must not be the audit file itself");
      }
    }
  }

  void ParseScriptDirectories(const Value& section, GlobalConfig& g) {
    const std::string path = JoinPath(kSection, "ScriptDirectories");
    std::optional<std::vector<std::string>> dirs = ReadStringArray(section, "ScriptDirectories", kSection);
    if (dirs && dirs->empty()) {
      Error("CFG-002", path, "must list at least one folder");
    }
    if (!options_.scriptDirectoriesOverride.empty()) {
      std::error_code ec;
      for (const std::string& d : options_.scriptDirectoriesOverride) {
        g.scriptDirectories.push_back(fs::absolute(d, ec).lexically_normal().string());
      }
    } else if (dirs) {
      for (const std::string& d : *dirs) g.scriptDirectories.push_back(Resolve(d));
    } else if (!Find(section, "ScriptDirectories")) {
      g.scriptDirectories.push_back(options_.defaultScriptDirectory);
    }
    if (!options_.checkFiles) return;
    for (size_t i = 0; i < g.scriptDirectories.size(); ++i) {
      std::error_code ec;
      if (!fs::is_directory(g.scriptDirectories[i], ec)) {
        const bool configured = dirs.has_value() && options_.scriptDirectoriesOverride.empty();
        Error("CFG-002", configured ? JoinIndex(path, i) : path,
              "script folder not found: " + g.scriptDirectories[i] +
                  (configured ? "" : (options_.scriptDirectoriesOverride.empty()
                                          ? " (the default; set ScriptDirectories)"
                                          : " (given with --scripts-dir)")));
      }
    }
  }

  void ParseServer(const Value& object, const std::string& p, const GatewayConfig& config, ServerConfig& s) {
    if (!IsServerName(s.name)) {
      Error("CFG-002", p,
            "invalid server name: use letters, digits, '.', '_' and '-' only (and not only dots), since "
            "the name becomes part of REST routes");
    }
    if (!object.IsObject()) {
      Error("CFG-002", p, "must be a JSON object");
      return;
    }
    // Provider scripts get the raw object; file keys in it are replaced by their resolved paths
    // (ReadFileKey) so that a script opens the same file the gateway checked.
    auto raw = std::make_shared<rapidjson::Document>();
    raw->CopyFrom(object, raw->GetAllocator());
    raw_ = raw.get();

    ReadKeys(object, p, ServerKeys(), s);  // ProviderType first: CredentialsFile below depends on it
    if (auto v = ReadString(object, "Provider", p, Empty::Invalid)) {
      if (IsScriptName(*v)) s.provider = *v;
      else Error("CFG-002", JoinPath(p, "Provider"), "must be a provider script name ([A-Za-z0-9._-]+)");
    }
    // Keys other than the gateway's are the provider's: its contract checks them
    // (ApplyProviderContracts), for shipped and custom providers alike.
    CheckMisplacedServerKeys(object, p);

    // Upstream and identity endpoints.
    if (auto v = ReadString(object, "Url", p, Empty::Substitution)) {
      s.url = *v;
      CheckUrl(s.url, JoinPath(p, "Url"), "the access token would travel unencrypted to the DICOMweb server");
    } else if (!Find(object, "Url") && !Find(object, "Targets")) {
      Error("CFG-001", JoinPath(p, "Url"), "required: the DICOMweb server's base URL");
    }
    if (auto v = ReadString(object, "TokenEndpoint", p, Empty::Substitution)) {
      s.tokenEndpoint = *v;
      CheckUrl(s.tokenEndpoint, JoinPath(p, "TokenEndpoint"), "client credentials would travel unencrypted");
    }

    // TLS towards the identity provider and the upstream.
    ParseTls(object, p, s);

    // Token validation (Python plugin keys).
    if (auto v = ReadString(object, "JWKSUrl", p, Empty::Allowed)) {
      s.jwksUrl = *v;
      if (!v->empty()) CheckUrl(s.jwksUrl, JoinPath(p, "JWKSUrl"), "");
    }
    ParseJwtAlgorithms(object, p, s);

    if (auto v = ReadFileKey(object, "CredentialsFile", p)) {  // google
      s.credentialsFile = *v;
      if (s.provider.empty() && (s.providerType == "auto" || s.providerType == "google")) {
        s.credentialsFileType = ReadCredentialsType(s.credentialsFile, JoinPath(p, "CredentialsFile"));
      }
    }

    // The DICOMweb plugin's server definition fields.
    std::optional<std::string> mode = ReadChoice(object, "Mode", p, {"inject", "proxy"});
    ParseHttpHeaders(object, p, s);

    ParseResilience(object, p, s.resilience);

    // Checks that depend on the provider the server resolves to.
    CheckCredentialsFileAgainstEndpoint(p, s);
    const ProviderResolution resolved = ResolveProvider(s);
    ApplyProviderRules(object, p, resolved, s);
    ApplyMode(p, resolved, mode, config, s);
    CheckDroppedDicomWebHeaders(config, s);
    ParseRouting(object, p, config, s);
    raw_ = nullptr;
    s.raw = std::move(raw);
  }

  // The gateway writes the DICOMweb definition of every server it manages, so extra headers in the
  // DicomWeb plugin's own entry of that name never reach the upstream. An Authorization header there
  // is expected (the static token the gateway replaces); any other header would vanish silently,
  // which is how a migration from a hand-written entry loses an API key or a tenant header.
  void CheckDroppedDicomWebHeaders(const GatewayConfig& config, const ServerConfig& s) {
    const auto entry = config.orthanc.dicomWebServers.find(s.name);
    if (entry == config.orthanc.dicomWebServers.end()) return;
    std::string names;
    for (const auto& [name, value] : entry->second.httpHeaders) {
      if (Lower(name) == "authorization" || s.httpHeaders.count(name) != 0) continue;
      names += (names.empty() ? "" : ", ") + name;
    }
    if (names.empty()) return;
    Warning("CFG-004", "DicomWeb.Servers." + s.name + ".HttpHeaders",
            "not sent: the gateway writes this server's DICOMweb definition itself and keeps only its own "
            "headers; move " + names + " to DicomWebOAuth.Servers." + s.name + ".HttpHeaders");
  }

  // ProviderType auto with a Google CredentialsFile and a TokenEndpoint of another provider: which
  // one was meant is a guess, so the operator is asked to say (Python plugin configurations have no
  // CredentialsFile, so none of them meets this).
  void CheckCredentialsFileAgainstEndpoint(const std::string& p, const ServerConfig& s) {
    if (!s.provider.empty() || s.providerType != "auto" || !IsGoogleCredentialType(s.credentialsFileType) ||
        s.tokenEndpoint.empty()) {
      return;
    }
    std::string why;
    const std::string detected = DetectProviderType(s.tokenEndpoint, "", &why);
    if (detected == "google") return;
    Error("CFG-002", JoinPath(p, "ProviderType"),
          "auto cannot choose: CredentialsFile is a Google " + s.credentialsFileType + " file, but " + why +
              "; set ProviderType to google (TokenEndpoint is then not used) or remove CredentialsFile");
  }

  // `Policies`: an array of policy script names (checked against the scripts at start-up).
  std::optional<std::vector<std::string>> ReadPolicyNames(const Value& object, const std::string& p) {
    std::optional<std::vector<std::string>> names = ReadStringArray(object, "Policies", p);
    if (!names) return std::nullopt;
    for (size_t i = 0; i < names->size(); ++i) {
      if (!IsScriptName((*names)[i])) {
        Error("CFG-002", JoinIndex(JoinPath(p, "Policies"), i), "must be a policy script name ([A-Za-z0-9._-]+)");
        return std::nullopt;
      }
    }
    return names;
  }

  // Routing (docs/policies.md): Policies, Targets, PolicyConfig, FailoverCooldownSeconds.
  void ParseRouting(const Value& object, const std::string& p, const GatewayConfig& config, ServerConfig& s) {
    if (auto v = ReadPolicyNames(object, p)) {
      s.policies = *v;
      s.policiesExplicit = true;
    } else if (!Find(object, "Policies")) {
      s.policies = config.global.policies;
    }
    if (const Value* pc = Find(object, "PolicyConfig")) {
      if (!pc->IsObject()) {
        Error("CFG-002", JoinPath(p, "PolicyConfig"), "must be a JSON object (read by the server's policies)");
      } else {
        auto copy = std::make_shared<rapidjson::Document>();
        copy->CopyFrom(*pc, copy->GetAllocator());
        s.policyConfig = std::move(copy);
      }
    }
    const Value* targets = Find(object, "Targets");
    if (!targets) {
      if (!s.url.empty()) s.targets.push_back({"primary", s.url});
      return;
    }
    const std::string path = JoinPath(p, "Targets");
    if (!targets->IsArray() || targets->Empty()) {
      Error("CFG-002", path, "must be a non-empty array of {\"Name\": ..., \"Url\": ...}; the first is the primary");
      return;
    }
    size_t index = 0;
    for (const Value& item : targets->GetArray()) {
      const std::string itemPath = JoinIndex(path, index++);
      if (!item.IsObject()) {
        Error("CFG-002", itemPath, "must be an object {\"Name\": ..., \"Url\": ...}");
        continue;
      }
      CheckUnknownKeys(item, itemPath, KeyObject::Target);
      UpstreamTarget t;
      if (auto v = ReadString(item, "Name", itemPath, Empty::Invalid)) t.name = *v;
      else if (!Find(item, "Name")) Error("CFG-001", JoinPath(itemPath, "Name"), "required");
      const bool nameOk = !t.name.empty() && std::all_of(t.name.begin(), t.name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      });
      if (!t.name.empty() && !nameOk) Error("CFG-002", JoinPath(itemPath, "Name"), "must match [a-z0-9_-]+");
      for (const auto& other : s.targets) {
        if (!t.name.empty() && other.name == t.name) {
          Error("CFG-002", JoinPath(itemPath, "Name"), "duplicate target name '" + t.name + "'");
        }
      }
      if (auto v = ReadString(item, "Url", itemPath, Empty::Substitution)) {
        t.url = *v;
        CheckUrl(t.url, JoinPath(itemPath, "Url"), "the access token would travel unencrypted to the DICOMweb server");
      } else if (!Find(item, "Url")) {
        Error("CFG-001", JoinPath(itemPath, "Url"), "required: the target's DICOMweb base URL");
      }
      s.targets.push_back(std::move(t));
    }
    if (s.targets.empty()) return;
    if (s.url.empty() && !Find(object, "Url")) {
      s.url = s.targets.front().url;  // the primary is the server's Url
    } else if (!s.url.empty() && s.url != s.targets.front().url) {
      Error("CFG-002", path, "the first target is the primary and must have the server's Url (or leave Url out)");
    }
    if (s.targets.size() > 1 && s.mode != ServerMode::Proxy) {
      Error("CFG-002", path,
            "more than one target needs Mode proxy: in inject mode the DICOMweb plugin talks to one Url itself");
    }
  }

  void CheckUrl(const std::string& url, const std::string& path, const std::string& clearTextRisk) {
    UrlProblem problem = UrlProblem::None;
    const std::optional<HttpUrl> parsed = ParseHttpUrl(url, &problem);
    if (!parsed) {
      Error("CFG-002", path, Describe(problem));
      return;
    }
    if (parsed->scheme == "http" && !parsed->IsLoopback() && !clearTextRisk.empty()) {
      Warning("CFG-006", path, "plain http to a host other than loopback: " + clearTextRisk);
    }
  }

  void ParseTls(const Value& object, const std::string& p, ServerConfig& s) {
    const Value* verify = Find(object, "VerifySSL");
    std::string caFromVerify;
    if (verify) {
      const std::string path = JoinPath(p, "VerifySSL");
      if (verify->IsBool()) {
        s.verifySsl = verify->GetBool();
        if (!s.verifySsl) {
          Warning("CFG-006", path,
                  "TLS certificate verification is off: anyone on the network path can impersonate the "
                  "identity provider and the DICOMweb server");
        }
      } else if (verify->IsString()) {
        // The Python plugin's form: a CA bundle path. An empty string (an unset ${VAR}) would have
        // turned verification off there; here it is an error.
        if (verify->GetStringLength() == 0) {
          EmptyAfterSubstitution(path, "VerifySSL");
        } else {
          caFromVerify = Resolve(verify->GetString());
          if (options_.checkFiles) CheckReadableFile(caFromVerify, path, true);
          SetRawString("VerifySSL", caFromVerify);
        }
      } else {
        Error("CFG-002", path, "must be true, false, or the path of a CA bundle");
      }
    }
    if (auto v = ReadFileKey(object, "CaBundle", p)) {
      if (!caFromVerify.empty()) {
        Error("CFG-002", JoinPath(p, "CaBundle"), "set either CaBundle or VerifySSL as a CA bundle path, not both");
      } else if (verify && verify->IsBool() && !verify->GetBool()) {
        Error("CFG-002", JoinPath(p, "CaBundle"), "contradicts VerifySSL: false");
      }
      s.caBundle = *v;
    }
    if (!caFromVerify.empty() && s.caBundle.empty()) s.caBundle = caFromVerify;
  }

  // JWTAlgorithms: the algorithms an acquired token may be signed with (service/TokenValidator.h).
  // Only RS256 and ES256 are verified here; other JOSE names are never accepted (warning), "none"
  // and names JOSE does not know are errors.
  void ParseJwtAlgorithms(const Value& object, const std::string& p, ServerConfig& s) {
    const std::optional<std::vector<std::string>> names = ReadStringArray(object, "JWTAlgorithms", p);
    if (!names) return;
    const std::string path = JoinPath(p, "JWTAlgorithms");
    static const std::vector<std::string> kVerified = {"RS256", "ES256"};
    static const std::vector<std::string> kOtherJose = {"HS256", "HS384", "HS512", "RS384", "RS512", "PS256",
                                                        "PS384", "PS512", "ES384", "ES512", "ES256K", "EdDSA"};
    if (names->empty()) {
      Warning("CFG-006", path, "is empty: the default (RS256, ES256) applies; leave the key out to say so");
      return;
    }
    bool failed = false;
    for (size_t i = 0; i < names->size(); ++i) {
      const std::string& name = (*names)[i];
      const std::string itemPath = JoinIndex(path, i);
      const auto in = [&name](const std::vector<std::string>& list) {
        return std::find(list.begin(), list.end(), name) != list.end();
      };
      if (Lower(name) == "none") {
        Error("CFG-002", itemPath, "`none` (unsigned tokens) is never accepted");
        failed = true;
      } else if (in(kVerified)) {
        if (std::find(s.jwtAlgorithms.begin(), s.jwtAlgorithms.end(), name) == s.jwtAlgorithms.end()) {
          s.jwtAlgorithms.push_back(name);
        }
      } else if (in(kOtherJose)) {
        Warning("CFG-006", itemPath,
                name + " is never accepted here: the gateway verifies RS256 and ES256 only" +
                    (name[0] == 'H' ? " (an HMAC algorithm never verifies with a public key)" : ""));
      } else {
        std::string hint;
        for (const auto* list : {&kVerified, &kOtherJose}) {
          for (const auto& known : *list) {
            if (Lower(known) == Lower(name)) hint = "; names are case-sensitive, did you mean `" + known + "`?";
          }
        }
        Error("CFG-002", itemPath, "unknown algorithm (accepted: RS256, ES256)" + hint);
        failed = true;
      }
    }
    if (!failed && s.jwtAlgorithms.empty()) {
      Error("CFG-002", path, "lists no algorithm the gateway verifies (RS256, ES256): every token would be refused");
    } else if (!failed) {
      const Value* off = Find(object, "DisableJWTValidation");
      const auto given = [&object](const char* key) {
        const Value* v = Find(object, key);
        return v != nullptr && v->IsString() && v->GetStringLength() > 0;
      };
      if ((off && off->IsBool() && off->GetBool()) || (!given("JWTPublicKey") && !given("JWKSUrl"))) {
        Warning("CFG-006", path,
                "has no effect: tokens are verified only with JWTPublicKey or JWKSUrl, and not with "
                "DisableJWTValidation");
      }
    }
  }

  void ParseHttpHeaders(const Value& object, const std::string& p, ServerConfig& s) {
    const std::optional<std::map<std::string, std::string>> headers = ReadStringMap(object, "HttpHeaders", p);
    if (!headers) return;
    const std::string path = JoinPath(p, "HttpHeaders");
    for (const auto& [name, value] : *headers) {
      if (Lower(name) == "authorization") {
        Error("CFG-002", JoinPath(path, name),
              "the gateway owns the Authorization header of this server; remove it from HttpHeaders");
      } else if (!IsHeaderName(name)) {
        Error("CFG-002", JoinPath(path, name), "is not a valid HTTP header name");
      } else if (HasLineBreakOrNul(value)) {
        Error("CFG-002", JoinPath(path, name), "the value must not contain line breaks or NUL characters");
      } else {
        s.httpHeaders[name] = value;
      }
    }
  }

  void ParseResilience(const Value& object, const std::string& parent, ResilienceConfig& r) {
    const Value* v = Find(object, "ResilienceConfig");
    if (!v) return;
    const std::string p = JoinPath(parent, "ResilienceConfig");
    if (!v->IsObject()) {
      Error("CFG-002", p, "must be a JSON object");
      return;
    }
    CheckUnknownKeys(*v, p, KeyObject::Resilience);
    ReadKeys(*v, p, ResilienceKeys(), r);
    if (r.retryMaxDelaySeconds < r.retryInitialDelaySeconds) {
      Warning("CFG-006", JoinPath(p, "RetryMaxDelay"),
              "is smaller than RetryInitialDelay: every retry waits RetryMaxDelay");
    }
  }

  void Require(const Value& object, const std::string& p, const char* key, const std::string& why) {
    // A key present but empty was already reported (CFG-003); only report absent ones here.
    if (!Find(object, key)) Error("CFG-001", JoinPath(p, key), "required " + why);
  }

  // What the provider scripts' schemas cannot say: the rules that depend on the provider the
  // gateway resolved (Python-compatible ProviderType resolution). Client authentication is the
  // client_credentials schema's (its rules: lua/providers/client_credentials.lua).
  void ApplyProviderRules(const Value& object, const std::string& p, const ProviderResolution& resolved,
                          const ServerConfig& s) {
    if (resolved.script == "client_credentials") {
      const std::string provider = "by the " + resolved.script + " provider (" + resolved.reason + ")";
      std::string hint;
      if (const auto upstream = ParseHttpUrl(s.url); upstream && EndsWith(upstream->host, ".azurehealthcareapis.com")) {
        hint = "; for an Azure managed identity set ProviderType: azuremanagedidentity instead";
      }
      // Entra ID (ProviderType azure/entra) builds <authority>/<TenantId>/oauth2/v2.0/token itself.
      const Value* tenant = Find(object, "TenantId");
      const bool entraFromTenant = resolved.flavour == "azure" && tenant && tenant->IsString() && tenant->GetStringLength() > 0;
      if (!entraFromTenant) Require(object, p, "TokenEndpoint", provider + hint);
    } else if (resolved.script == "azure_managed_identity") {
      // Without Scope and Resource the script asks for the Azure DICOM service's scope, as the Python
      // plugin did; a key that is present but empty is an unset ${VAR}.
      if ((Find(object, "Scope") || Find(object, "Resource")) && s.scope.empty() && s.resource.empty()) {
        EmptyAfterSubstitution(JoinPath(p, Find(object, "Scope") ? "Scope" : "Resource"),
                               Find(object, "Scope") ? "Scope" : "Resource");
      }
    }
  }

  void ApplyMode(const std::string& p, const ProviderResolution& resolved, const std::optional<std::string>& mode,
                 const GatewayConfig& config, ServerConfig& s) {
    const bool signsRequests = resolved.script == "aws_sigv4";
    s.modeExplicit = mode.has_value();
    if (mode) s.mode = *mode == "proxy" ? ServerMode::Proxy : ServerMode::Inject;
    else s.mode = signsRequests ? ServerMode::Proxy : ServerMode::Inject;
    const std::string path = JoinPath(p, "Mode");
    if (signsRequests && s.mode == ServerMode::Inject) {
      Error("CFG-002", path, "the aws_sigv4 provider signs every request and needs Mode proxy");
      return;
    }
    if (s.mode == ServerMode::Inject && config.orthanc.dicomWebServersInDatabase &&
        !config.global.allowInjectWithServersInDatabase) {
      Error("CFG-002", path,
            std::string("inject mode") + (s.modeExplicit ? "" : " (the default for this provider)") +
                " would store every access token in plaintext in the Orthanc database, because "
                "DicomWeb.ServersInDatabase is true; set DicomWeb.ServersInDatabase to false, or set "
                "DicomWebOAuth.AllowInjectWithServersInDatabase to true to accept that (proxy mode "
                "would store its loopback secret there and is refused the same way)");
    }
  }

  const ParseOptions& options_;
  std::vector<Diagnostic> diagnostics_;
  rapidjson::Document* raw_ = nullptr;  // raw object of the server being parsed
};

}  // namespace

ParseResult ConfigParser::Parse(const rapidjson::Value& orthancRoot, const ParseOptions& options) {
  // Secret references (env:, file:, ...) are replaced by their values in a copy first, so the
  // parser validates and provider scripts receive the secrets themselves (SecretReferences.h).
  rapidjson::Document resolved;
  resolved.CopyFrom(orthancRoot, resolved.GetAllocator());
  std::vector<Diagnostic> references =
      ResolveSecretReferences(resolved, SecretReferenceOptions{options.baseDirectory, options.secretResolvers});
  ParseResult result = Parser(options).Run(resolved);
  if (result.section == SectionStatus::Present && options.loadContracts) {
    // The provider keys: each server against its provider's contract. Scripts that cannot be
    // loaded are reported by the script check that follows (plugin start, check-config).
    const Result<ProviderContracts> contracts = options.loadContracts(result.bestEffort.global);
    if (contracts.Ok()) {
      std::vector<Diagnostic> found = ApplyProviderContracts(result.bestEffort, contracts.Value(), options);
      result.bestEffort.contractsApplied = true;
      result.diagnostics.insert(result.diagnostics.end(), found.begin(), found.end());
      if (HasErrors(result.diagnostics)) result.config.reset();
      else result.config = result.bestEffort;
    }
  }
  ApplyProxyModeChecks(result);  // what the proxy would refuse at start (ProxyModeChecks.h)
  if (references.empty()) return result;
  result.diagnostics.insert(result.diagnostics.begin(), references.begin(), references.end());
  result.config.reset();  // an unresolved reference fails closed
  return result;
}

}  // namespace gw::config
