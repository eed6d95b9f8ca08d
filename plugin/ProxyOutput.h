#pragma once
// proxy::IProxyAnswer over an Orthanc REST output: the only place where a proxied answer meets
// the Orthanc SDK.
//   - 200: AnswerBuffer with the upstream Content-Type (whole body);
//   - 301: OrthancPluginRedirect (Orthanc refuses 301 through SendHttpStatus);
//   - 405: OrthancPluginSendMethodNotAllowed with the upstream Allow;
//   - any other status: SetHttpHeader for each returned header, then SendHttpStatus with the
//     body; a status Orthanc 1.10 cannot send is replaced (proxy::RepresentableStatus) and the real
//     one given in X-DicomWeb-OAuth-Upstream-Status;
//   - multipart: StartMultipartAnswer + SendMultipartItem2 per part (Orthanc allows no other
//     header on a multipart answer, so the upstream's response headers are not forwarded there;
//     part headers are);
//   - a refusal: the error document, with Retry-After when the rate limit refused (Orthanc keeps
//     the header with SendHttpStatus, measured on 1.10.1).
#include <orthanc/OrthancCPlugin.h>

#include <chrono>
#include <string>
#include <utility>

#include "gw/proxy/ProxyService.h"

namespace gw::plugin {

class ProxyOutput final : public proxy::IProxyAnswer {
 public:
  // `traceId`: the operation's trace id, put into the error bodies the gateway writes itself.
  // `context`: the runtime's (valid while the callback holds its lease).
  ProxyOutput(OrthancPluginContext* context, OrthancPluginRestOutput* output, std::string traceId = {})
      : context_(context), output_(output), traceId_(std::move(traceId)) {}

  Status SendWhole(int status, const http::Headers& headers, const std::string& contentType,
                   std::string_view body) override;
  Status StartMultipart(const std::string& subType, const std::string& partType) override;
  Status SendPart(const http::Headers& headers, std::string_view body) override;
  void SendError(const Error& error) override;
  void SendRefusal(const Error& error, std::chrono::seconds retryAfter) override;

 private:
  OrthancPluginContext* context_;
  OrthancPluginRestOutput* output_;
  std::string traceId_;
};

}  // namespace gw::plugin
