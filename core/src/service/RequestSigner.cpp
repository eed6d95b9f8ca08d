#include "gw/service/RequestSigner.h"

#include <map>
#include <string_view>
#include <vector>

namespace gw::service {

rapidjson::Document BuildSignContext(const std::string& server, const rapidjson::Value* serverConfig,
                                     const std::optional<std::string>& credential,
                                     const proxy::OutgoingRequest& request, const std::string& fixedTime) {
  rapidjson::Document arg(rapidjson::kObjectType);
  auto& a = arg.GetAllocator();
  auto text = [&a](std::string_view s) {
    return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
  };
  if (credential) arg.AddMember("credential", text(*credential), a);
  arg.AddMember("server", text(server), a);
  rapidjson::Value config;
  if (serverConfig) config.CopyFrom(*serverConfig, a);
  else config.SetObject();
  arg.AddMember("config", config, a);

  rapidjson::Value headers(rapidjson::kObjectType);
  if (request.headers != nullptr) {
    std::map<std::string, std::string> joined;
    std::vector<std::string> order;
    for (const auto& [name, value] : *request.headers) {
      auto found = joined.find(name);
      if (found == joined.end()) {
        joined.emplace(name, value);
        order.push_back(name);
      } else {
        found->second += "," + value;
      }
    }
    for (const auto& name : order) headers.AddMember(text(name), text(joined[name]), a);
  }
  rapidjson::Value req(rapidjson::kObjectType);
  req.AddMember("method", text(request.method), a);
  req.AddMember("url", text(request.url), a);
  req.AddMember("headers", headers, a);
  req.AddMember("payload_sha256", text(request.payloadSha256), a);
  arg.AddMember("request", req, a);
  if (!fixedTime.empty()) arg.AddMember("time", text(fixedTime), a);
  return arg;
}

Result<http::Headers> ReadSignedHeaders(const rapidjson::Document& doc, const std::string& provider) {
  // MemberEnd() of a value that is not an object is undefined (an assertion in debug builds).
  const auto noHeaders = [&] {
    return MakeError("SIG-001", "provider '" + provider + "' returned no headers table from sign", 500);
  };
  if (!doc.IsObject()) return noHeaders();
  const auto list = doc.FindMember("headers");
  if (list == doc.MemberEnd() || !list->value.IsObject()) return noHeaders();
  http::Headers added;
  for (const auto& m : list->value.GetObject()) {
    if (!m.value.IsString()) {
      return MakeError("SIG-001", "provider '" + provider + "' returned a non-string header value", 500);
    }
    std::string value(m.value.GetString(), m.value.GetStringLength());
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return MakeError("SIG-001", "provider '" + provider + "' returned a header value with CR, LF or NUL", 500);
    }
    added.emplace_back(std::string(m.name.GetString(), m.name.GetStringLength()), std::move(value));
  }
  return added;
}

Result<http::Headers> SignRequest(lua::ScriptEngine& engine, const std::string& provider, const std::string& server,
                                  const rapidjson::Document& context, std::chrono::milliseconds budget) {
  auto out = engine.Call(provider, "sign", context, budget, server);
  if (!out.Ok()) {
    Error e = out.GetError();
    if (e.httpStatus < 500) e.httpStatus = 500;  // the caller's request is fine; signing failed
    return e;
  }
  return ReadSignedHeaders(out.Value(), provider);
}

}  // namespace gw::service
