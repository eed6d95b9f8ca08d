#include "ProxyOutput.h"

#include <cctype>
#include <limits>
#include <vector>

#include "OrthancGlue.h"
#include "gw/proxy/ProxyErrors.h"
#include "gw/proxy/StatusMap.h"

namespace gw::plugin {

namespace {

// "content-location" -> "Content-Location" (header names are case-insensitive; this is cosmetic).
std::string Canonical(const std::string& name) {
  if (name == "www-authenticate") return "WWW-Authenticate";
  if (name == "etag") return "ETag";
  std::string out = name;
  bool upper = true;
  for (char& c : out) {
    c = upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = c == '-';
  }
  return out;
}

const std::string* Find(const http::Headers& headers, const char* name) {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

Status ClientGone() { return proxy::UpstreamMalformed("the caller closed the connection"); }

}  // namespace

Status ProxyOutput::SendWhole(int status, const http::Headers& headers, const std::string& contentType,
                              std::string_view body) {
  if (body.size() > std::numeric_limits<uint32_t>::max()) {
    SendError(proxy::UpstreamMalformed("answer too large"));
    return Status::Success();
  }
  auto* ctx = context_;
  if (status == 301) {
    if (const std::string* location = Find(headers, "location")) {
      OrthancPluginRedirect(ctx, output_, location->c_str());
      return Status::Success();
    }
    SendError(proxy::UpstreamMalformed("a 301 answer without Location"));
    return Status::Success();
  }
  if (status == 405) {
    const std::string* allow = Find(headers, "allow");
    OrthancPluginSendMethodNotAllowed(ctx, output_, allow != nullptr ? allow->c_str() : "");
    return Status::Success();
  }
  const int sent = proxy::RepresentableStatus(status);
  for (const auto& [name, value] : headers) {
    OrthancPluginSetHttpHeader(ctx, output_, Canonical(name).c_str(), value.c_str());
  }
  if (sent != status) {
    OrthancPluginSetHttpHeader(ctx, output_, "X-DicomWeb-OAuth-Upstream-Status", std::to_string(status).c_str());
  }
  if (sent == 200) {
    OrthancPluginAnswerBuffer(ctx, output_, body.data(), static_cast<uint32_t>(body.size()),
                              contentType.empty() ? "application/octet-stream" : contentType.c_str());
    return Status::Success();
  }
  if (!contentType.empty()) OrthancPluginSetHttpHeader(ctx, output_, "Content-Type", contentType.c_str());
  OrthancPluginSendHttpStatus(ctx, output_, static_cast<uint16_t>(sent), body.data(),
                              static_cast<uint32_t>(body.size()));
  return Status::Success();
}

Status ProxyOutput::StartMultipart(const std::string& subType, const std::string& partType) {
  if (OrthancPluginStartMultipartAnswer(context_, output_, subType.c_str(), partType.c_str()) !=
      OrthancPluginErrorCode_Success) {
    return ClientGone();
  }
  return Status::Success();
}

Status ProxyOutput::SendPart(const http::Headers& headers, std::string_view body) {
  if (body.size() > std::numeric_limits<uint32_t>::max()) return proxy::UpstreamMalformed("part too large");
  std::vector<std::string> names;
  names.reserve(headers.size());
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [name, value] : headers) names.push_back(Canonical(name));
  for (size_t i = 0; i < headers.size(); ++i) {
    keys.push_back(names[i].c_str());
    values.push_back(headers[i].second.c_str());
  }
  if (OrthancPluginSendMultipartItem2(context_, output_, body.data(), static_cast<uint32_t>(body.size()),
                                      static_cast<uint32_t>(keys.size()), keys.empty() ? nullptr : keys.data(),
                                      values.empty() ? nullptr : values.data()) != OrthancPluginErrorCode_Success) {
    return ClientGone();
  }
  return Status::Success();
}

void ProxyOutput::SendError(const Error& error) { AnswerError(context_, output_, error, traceId_); }

void ProxyOutput::SendRefusal(const Error& error, std::chrono::seconds retryAfter) {
  if (retryAfter.count() > 0) {
    const std::string seconds = std::to_string(retryAfter.count());
    OrthancPluginSetHttpHeader(context_, output_, "Retry-After", seconds.c_str());
  }
  AnswerError(context_, output_, error, traceId_);
}

}  // namespace gw::plugin

