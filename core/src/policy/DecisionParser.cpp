#include "gw/policy/DecisionParser.h"

#include <cctype>

#include "gw/policy/PolicyErrors.h"
#include "gw/proxy/HeaderPolicy.h"

namespace gw::policy {
namespace {

Error Invalid(const std::string& why) { return MakeError(kInvalidDecision, "invalid decision: " + why, 500); }

std::string_view Str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsPrintable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// A header name a policy may set or remove: a valid token that the gateway does not own.
Status CheckHeaderName(std::string_view name, const char* field) {
  if (!DecisionParser::IsHeaderToken(name)) {
    return Invalid(std::string(field) + ": header names must be HTTP tokens");
  }
  if (proxy::HeaderPolicy::IsReservedHeader(name)) {
    return MakeError(kHeaderRefused, std::string(field) + ": header '" + std::string(name) +
                                         "' belongs to the gateway and cannot be changed by a policy", 500);
  }
  return Status::Success();
}

}  // namespace

const char* ToString(Stage stage) { return stage == Stage::Client ? "client" : "upstream"; }

bool DecisionParser::IsHeaderToken(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (unsigned char c : name) {
    if (std::isalnum(c)) continue;
    switch (c) {
      case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
      case '.': case '^': case '_': case '`': case '|': case '~':
        continue;
      default:
        return false;
    }
  }
  return true;
}

Result<Decision> DecisionParser::Parse(const rapidjson::Value& table, const PolicyRequest& request) {
  if (!table.IsObject()) return Invalid("decide() must return a table (got a non-table value)");
  Decision d;
  const rapidjson::Value* allow = nullptr;
  const rapidjson::Value* status = nullptr;
  const rapidjson::Value* code = nullptr;
  for (const auto& m : table.GetObject()) {
    const std::string_view key = Str(m.name);
    const rapidjson::Value& v = m.value;
    if (key == "allow") {
      if (!v.IsBool()) return Invalid("'allow' must be a boolean");
      allow = &v;
    } else if (key == "status") {
      if (!v.IsInt() || v.GetInt() < 400 || v.GetInt() > 599) return Invalid("'status' must be an integer 400-599");
      status = &v;
    } else if (key == "code") {
      if (!v.IsString() || !gw::IsErrorCode(Str(v))) return Invalid("'code' must look like AAA-000");
      code = &v;
    } else if (key == "reason") {
      if (!v.IsString() || v.GetStringLength() > kMaxReasonBytes || !IsPrintable(Str(v))) {
        return Invalid("'reason' must be a string of at most 512 bytes without control characters");
      }
      d.reason.assign(v.GetString(), v.GetStringLength());
    } else if (key == "target") {
      if (!v.IsString()) return Invalid("'target' must be a string (a target name)");
      const std::string_view name = Str(v);
      bool known = false;
      for (const auto& t : request.targets) known = known || t.name == name;
      if (!known) {
        return MakeError(kUnknownTarget, "policy chose target '" + std::string(name) + "', which server '" +
                                             std::string(request.server) + "' does not have", 500);
      }
      d.target.assign(name);
    } else if (key == "set_headers") {
      if (!v.IsObject()) return Invalid("'set_headers' must be a table of header name -> string");
      for (const auto& h : v.GetObject()) {
        const std::string_view name = Str(h.name);
        if (Status ok = CheckHeaderName(name, "set_headers"); !ok) return ok.GetError();
        if (!h.value.IsString()) return Invalid("set_headers: values must be strings");
        if (!proxy::HeaderPolicy::IsSafeValue(Str(h.value))) {
          return MakeError(kHeaderRefused, "set_headers: the value of '" + std::string(name) +
                                               "' contains CR, LF or NUL", 500);
        }
        d.setHeaders.emplace_back(Lower(name), std::string(Str(h.value)));
      }
    } else if (key == "remove_headers") {
      // An empty Lua table arrives as {} (docs/lua-api.md): accepted as an empty list.
      if (v.IsObject() && v.MemberCount() == 0) continue;
      if (!v.IsArray()) return Invalid("'remove_headers' must be a list of header names");
      for (const auto& h : v.GetArray()) {
        if (!h.IsString()) return Invalid("remove_headers: entries must be strings");
        if (Status ok = CheckHeaderName(Str(h), "remove_headers"); !ok) return ok.GetError();
        d.removeHeaders.push_back(Lower(Str(h)));
      }
    } else if (key == "min_token_seconds") {
      if (!v.IsInt64() || v.GetInt64() < 0 || v.GetInt64() > kMaxMinTokenSeconds) {
        return Invalid("'min_token_seconds' must be an integer 0-86400");
      }
      d.minTokenSeconds = std::chrono::seconds(v.GetInt64());
    } else {
      return Invalid("unknown field '" + std::string(key.substr(0, 64)) + "'");
    }
  }
  if (!allow) return Invalid("'allow' is required (true or false)");
  d.allow = allow->GetBool();
  if (d.allow) {
    if (status || code) return Invalid("'status' and 'code' only go with allow = false");
    d.status = 200;
    return d;
  }
  d.status = status ? status->GetInt() : 403;
  d.code = code ? std::string(Str(*code)) : std::string(kDenied);
  if (d.reason.empty()) d.reason = "denied by policy";
  return d;
}

}  // namespace gw::policy
