#include "OrthancGlue.h"

#include <exception>
#include <string>

#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/common/Json.h"

namespace gw::plugin {
void AnswerText(OrthancPluginContext* context, OrthancPluginRestOutput* output, int status, const std::string& text,
                const char* contentType) {
  if (status == 200) {
    OrthancPluginAnswerBuffer(context, output, text.data(), static_cast<uint32_t>(text.size()), contentType);
    return;
  }
  OrthancPluginSetHttpHeader(context, output, "Content-Type", contentType);
  OrthancPluginSendHttpStatus(context, output, static_cast<uint16_t>(status), text.data(),
                              static_cast<uint32_t>(text.size()));
}

void AnswerJson(OrthancPluginContext* context, OrthancPluginRestOutput* output, int status, const std::string& json) {
  AnswerText(context, output, status, json, "application/json");
}

void AnswerError(OrthancPluginContext* context, OrthancPluginRestOutput* output, const Error& error,
                 std::string_view traceId) {
  json::Writer w;
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.String(error.code);
  w.Key("message");
  w.String(SecretRegistry::Redact(error.message));
  if (!traceId.empty()) {
    w.Key("traceId");
    w.String(traceId);
  }
  w.EndObject();
  w.EndObject();
  AnswerJson(context, output, error.httpStatus > 0 ? error.httpStatus : 500, w.Take());
}

void AnswerMethodNotAllowed(OrthancPluginContext* context, OrthancPluginRestOutput* output, const char* allowed) {
  OrthancPluginSendMethodNotAllowed(context, output, allowed);
}

std::string TakeOrthancString(OrthancPluginContext* context, char* text) {
  if (text == nullptr) return {};
  std::string out(text);
  OrthancPluginFreeString(context, text);
  return out;
}

const char* MethodName(OrthancPluginHttpMethod method) {
  switch (method) {
    case OrthancPluginHttpMethod_Get: return "GET";
    case OrthancPluginHttpMethod_Post: return "POST";
    case OrthancPluginHttpMethod_Put: return "PUT";
    case OrthancPluginHttpMethod_Delete: return "DELETE";
  }
  return "?";
}

void LogBarrierFailure(const char* where, const char* subject, const char* what) noexcept {
  try {
    LogError(std::string("GW-500 ") + where + (subject != nullptr ? subject : "") + ": " +
             (what != nullptr ? what : "unknown exception"));
  } catch (...) {
    // Out of memory while logging: nothing more can be said, and nothing may escape.
  }
}

}  // namespace gw::plugin
