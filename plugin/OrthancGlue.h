#pragma once
// The only place that knows how to talk HTTP back to Orthanc. Every REST callback goes through
// Protect(), so no C++ exception ever crosses the extern "C" boundary into Orthanc.
#include <orthanc/OrthancCPlugin.h>

#include <string>
#include <string_view>

#include "gw/common/Error.h"

namespace gw::plugin {

OrthancPluginContext* Context();
void SetContext(OrthancPluginContext* context);

// Answers with a JSON body and the given status (200 via AnswerBuffer, anything else via
// SendHttpStatus so 4xx/5xx carry their body).
void AnswerJson(OrthancPluginRestOutput* output, int status, const std::string& json);
void AnswerText(OrthancPluginRestOutput* output, int status, const std::string& text,
                const char* contentType);
// {"error": {"code": ..., "message": ...}} with error.httpStatus; the message is redacted again.
// `traceId` (W3C trace id of the operation, TraceContext.h): added as error.traceId when not empty.
void AnswerError(OrthancPluginRestOutput* output, const Error& error, std::string_view traceId = {});
// 405 with the Allow header.
void AnswerMethodNotAllowed(OrthancPluginRestOutput* output, const char* allowed);

const char* MethodName(OrthancPluginHttpMethod method);

using RestHandler = void (*)(OrthancPluginRestOutput* output, const char* url,
                             const OrthancPluginHttpRequest* request);

// Exception barrier: runs `handler`, turns any escaping exception into a 500 with code GW-500.
OrthancPluginErrorCode Protect(RestHandler handler, OrthancPluginRestOutput* output, const char* url,
                               const OrthancPluginHttpRequest* request) noexcept;

// Registers a concurrent (NoLock) REST callback wrapped in Protect().
template <RestHandler H>
void RegisterRoute(const char* regex) {
  OrthancPluginRegisterRestCallbackNoLock(
      Context(), regex,
      [](OrthancPluginRestOutput* output, const char* url,
         const OrthancPluginHttpRequest* request) -> OrthancPluginErrorCode {
        return Protect(H, output, url, request);
      });
}

}  // namespace gw::plugin
