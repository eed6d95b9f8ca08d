#include "OrthancGlue.h"

#include <exception>
#include <string>

#include "gw/common/Log.h"
#include "gw/common/SecretRegistry.h"
#include "gw/common/Json.h"

namespace gw::plugin {
namespace {
OrthancPluginContext* g_context = nullptr;
}

OrthancPluginContext* Context() { return g_context; }
void SetContext(OrthancPluginContext* context) { g_context = context; }

void AnswerText(OrthancPluginRestOutput* output, int status, const std::string& text,
                const char* contentType) {
  if (status == 200) {
    OrthancPluginAnswerBuffer(g_context, output, text.data(), static_cast<uint32_t>(text.size()),
                              contentType);
    return;
  }
  OrthancPluginSetHttpHeader(g_context, output, "Content-Type", contentType);
  OrthancPluginSendHttpStatus(g_context, output, static_cast<uint16_t>(status), text.data(),
                              static_cast<uint32_t>(text.size()));
}

void AnswerJson(OrthancPluginRestOutput* output, int status, const std::string& json) {
  AnswerText(output, status, json, "application/json");
}

void AnswerError(OrthancPluginRestOutput* output, const Error& error, std::string_view traceId) {
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
  AnswerJson(output, error.httpStatus > 0 ? error.httpStatus : 500, w.Take());
}

void AnswerMethodNotAllowed(OrthancPluginRestOutput* output, const char* allowed) {
  OrthancPluginSendMethodNotAllowed(g_context, output, allowed);
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

OrthancPluginErrorCode Protect(RestHandler handler, OrthancPluginRestOutput* output, const char* url,
                               const OrthancPluginHttpRequest* request) noexcept {
  const bool handled = Guard("internal error on ", url, false, [&] {
    handler(output, url, request);
    return true;
  });
  if (handled) return OrthancPluginErrorCode_Success;
  return Guard("internal error on ", url, OrthancPluginErrorCode_InternalError, [&] {
    AnswerError(output, MakeError("GW-500", "internal error, see the Orthanc log", 500));
    return OrthancPluginErrorCode_Success;
  });
}

}  // namespace gw::plugin
