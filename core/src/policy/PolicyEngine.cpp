#include "gw/policy/PolicyEngine.h"

#include <strings.h>

#include "gw/common/Log.h"
#include "gw/policy/DecisionParser.h"
#include "gw/policy/PolicyErrors.h"

namespace gw::policy {
namespace {

using rapidjson::StringRef;
using rapidjson::Value;

Value Str(std::string_view s, rapidjson::Document::AllocatorType& a) {
  return Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

bool Is(std::string_view name, const char* lower) {
  const size_t n = std::char_traits<char>::length(lower);
  return name.size() == n && strncasecmp(name.data(), lower, n) == 0;
}

// Headers as the script sees them: lower-case names, repeated ones joined with ", ". Credentials
// stay out of Lua: Authorization keeps only its scheme, Cookie and the loopback secret are left out.
void AddHeaders(const http::Headers& headers, Value& out, rapidjson::Document::AllocatorType& a) {
  out.SetObject();
  std::string name;
  for (const auto& [rawName, rawValue] : headers) {
    if (Is(rawName, "x-dicomweb-oauth-gateway") || Is(rawName, "cookie")) continue;
    name.assign(rawName);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = rawValue;
    if (name == "authorization" || name == "proxy-authorization") value = value.substr(0, value.find(' '));
    auto existing = out.FindMember(StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size())));
    if (existing != out.MemberEnd()) {
      std::string joined(existing->value.GetString(), existing->value.GetStringLength());
      joined.append(", ").append(value);
      existing->value.SetString(joined.data(), static_cast<rapidjson::SizeType>(joined.size()), a);
      continue;
    }
    out.AddMember(Str(name, a), Str(value, a), a);
  }
}

Decision Deny(int status, std::string code, std::string reason, const std::string& policy) {
  Decision d;
  d.allow = false;
  d.status = status >= 400 && status <= 599 ? status : 500;
  d.code = std::move(code);
  d.reason = std::move(reason);
  d.policy = policy;
  return d;
}

// A policy's error as a denial: a deliberate refusal keeps its code/status/message, a failure of
// the script itself is POL-002 (details only in the log: they may quote the script's data).
Decision FromError(const Error& e, const std::string& policy, const PolicyRequest& request) {
  if (e.code == "LUA-009") {
    std::string reason = e.message;
    const size_t cut = reason.find("returned an error: ");
    if (cut != std::string::npos) reason.erase(0, cut + 19);
    if (reason.size() > DecisionParser::kMaxReasonBytes) reason.resize(DecisionParser::kMaxReasonBytes);
    return Deny(403, kDenied, std::move(reason), policy);
  }
  if (e.code.rfind("LUA-", 0) != 0) return Deny(e.httpStatus, e.code, e.message, policy);
  LogError(std::string(kScriptFailed) + " policy '" + policy + "' failed for server '" + std::string(request.server) +
           "', request denied: " + e.ToString());
  return Deny(500, kScriptFailed, "policy '" + policy + "' failed (see the Orthanc log)", policy);
}

void Merge(Decision& into, Decision&& from) {
  if (!from.target.empty()) into.target = std::move(from.target);
  for (auto& [name, value] : from.setHeaders) {
    bool replaced = false;
    for (auto& h : into.setHeaders) {
      if (h.first == name) {
        h.second = value;
        replaced = true;
      }
    }
    if (!replaced) into.setHeaders.emplace_back(std::move(name), std::move(value));
  }
  for (auto& r : from.removeHeaders) into.removeHeaders.push_back(std::move(r));
  if (from.minTokenSeconds > into.minTokenSeconds) into.minTokenSeconds = from.minTokenSeconds;
  if (!from.reason.empty()) into.reason = std::move(from.reason);
}

}  // namespace

void PolicyEngine::BuildRequest(const PolicyRequest& request, rapidjson::Document& out) {
  auto& a = out.GetAllocator();
  out.SetObject();
  out.AddMember("stage", StringRef(ToString(request.stage)), a);
  out.AddMember("server", Str(request.server, a), a);
  out.AddMember("mode", Str(request.mode, a), a);
  out.AddMember("method", Str(request.method, a), a);
  out.AddMember("path", Str(request.path, a), a);
  if (!request.operation.empty()) out.AddMember("operation", Str(request.operation, a), a);
  Value query(rapidjson::kObjectType);
  if (request.query) {
    for (const auto& [k, v] : *request.query) {
      auto existing = query.FindMember(StringRef(k.data(), static_cast<rapidjson::SizeType>(k.size())));
      if (existing == query.MemberEnd()) query.AddMember(Str(k, a), Str(v, a), a);
      else existing->value = Str(std::string(existing->value.GetString()) + "," + v, a);
    }
  }
  out.AddMember("query", query, a);
  Value headers(rapidjson::kObjectType);
  if (request.headers) AddHeaders(*request.headers, headers, a);
  out.AddMember("headers", headers, a);
  if (!request.user.empty()) out.AddMember("user", Str(request.user, a), a);
  if (!request.ip.empty()) out.AddMember("ip", Str(request.ip, a), a);
  if (!request.authorization.empty()) out.AddMember("authorization", Str(request.authorization, a), a);
  Value targets(rapidjson::kArrayType);
  for (const auto& t : request.targets) {
    Value item(rapidjson::kObjectType);
    item.AddMember("name", Str(t.name, a), a);
    item.AddMember("url", Str(t.url, a), a);
    item.AddMember("healthy", t.healthy, a);
    targets.PushBack(item, a);
  }
  out.AddMember("targets", targets, a);
  if (request.config && request.config->IsObject()) {
    Value copy(*request.config, a);
    out.AddMember("config", copy, a);
  }
}

Decision PolicyEngine::Decide(const std::vector<std::string>& policies, const PolicyRequest& request) const {
  Decision combined;
  combined.allow = true;
  combined.status = 200;
  if (policies.empty()) return combined;

  const auto deadline = std::chrono::steady_clock::now() + budget_;
  rapidjson::Document table;
  BuildRequest(request, table);
  for (const std::string& policy : policies) {
    combined.policies.push_back(policy);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return FromError(MakeError("LUA-004", "the policy chain's time budget of " + std::to_string(budget_.count()) +
                                                " ms was used up before this policy ran"),
                       policy, request);
    }
    auto result = scripts_.Call(policy, "decide", table, left);
    if (!result) {
      Decision denied = FromError(result.GetError(), policy, request);
      denied.policies = std::move(combined.policies);
      return denied;
    }
    auto parsed = DecisionParser::Parse(result.Value(), request);
    if (!parsed) {
      const Error& e = parsed.GetError();
      LogError(e.code + " policy '" + policy + "' for server '" + std::string(request.server) +
               "', request denied: " + e.message);
      Decision denied = Deny(e.httpStatus, e.code, "policy '" + policy + "': " + e.message, policy);
      denied.policies = std::move(combined.policies);
      return denied;
    }
    Decision d = std::move(parsed).Value();
    if (!d.allow) {
      d.policy = policy;
      d.policies = std::move(combined.policies);
      return d;
    }
    Merge(combined, std::move(d));
  }
  return combined;
}

}  // namespace gw::policy
