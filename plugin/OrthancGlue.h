#pragma once
// The only place that knows how to talk HTTP back to Orthanc. Every callback Orthanc calls runs
// inside Guard() (REST routes through RestRoutes.cpp's Protect(), which also answers 500), so no C++
// exception ever crosses the extern "C" boundary into Orthanc. The Orthanc context is passed in: it
// belongs to the PluginRuntime (PluginRuntime.h), the one object that holds the plugin's state.
#include <orthanc/OrthancCPlugin.h>

#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include "gw/common/Error.h"

namespace gw::plugin {

// Answers with a JSON body and the given status (200 via AnswerBuffer, anything else via
// SendHttpStatus so 4xx/5xx carry their body).
void AnswerJson(OrthancPluginContext* context, OrthancPluginRestOutput* output, int status, const std::string& json);
void AnswerText(OrthancPluginContext* context, OrthancPluginRestOutput* output, int status, const std::string& text,
                const char* contentType);
// {"error": {"code": ..., "message": ...}} with error.httpStatus; the message is redacted again.
// `traceId` (W3C trace id of the operation, TraceContext.h): added as error.traceId when not empty.
void AnswerError(OrthancPluginContext* context, OrthancPluginRestOutput* output, const Error& error,
                 std::string_view traceId = {});
// 405 with the Allow header.
void AnswerMethodNotAllowed(OrthancPluginContext* context, OrthancPluginRestOutput* output, const char* allowed);

// A string Orthanc allocated (OrthancPluginGetConfiguration...), copied and freed; "" for null.
std::string TakeOrthancString(OrthancPluginContext* context, char* text);

const char* MethodName(OrthancPluginHttpMethod method);

// Logs "GW-500 <where><subject>: <what>" (what: "unknown exception" when null). Never throws.
void LogBarrierFailure(const char* where, const char* subject, const char* what) noexcept;

// Exception barrier for any Orthanc callback kind: returns what `body()` returns; when an
// exception escapes it, logs GW-500 (LogBarrierFailure) and returns `failed` instead. `failed` is
// what that callback kind reports on an internal error: OrthancPluginErrorCode_InternalError for
// REST, chunked-reader and change callbacks, 0 (refuse) for an incoming-request filter. `where`
// and `subject` only name the callback in the log line (`subject` may be null).
template <typename R, typename Body>
R Guard(const char* where, const char* subject, R failed, Body&& body) noexcept {
  try {
    return std::forward<Body>(body)();
  } catch (const std::exception& e) {
    LogBarrierFailure(where, subject, e.what());
  } catch (...) {
    LogBarrierFailure(where, subject, nullptr);
  }
  return failed;
}

// The same for callbacks that return nothing (a chunked reader's finalizer).
template <typename Body>
void GuardVoid(const char* where, const char* subject, Body&& body) noexcept {
  try {
    std::forward<Body>(body)();
  } catch (const std::exception& e) {
    LogBarrierFailure(where, subject, e.what());
  } catch (...) {
    LogBarrierFailure(where, subject, nullptr);
  }
}

}  // namespace gw::plugin
