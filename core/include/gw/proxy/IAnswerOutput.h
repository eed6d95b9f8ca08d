#pragma once
// Where a proxied answer goes: implemented by the Orthanc glue over OrthancPluginRestOutput, and
// by tests. The AnswerWriter decides which calls to make; the output only translates them.
#include <string>
#include <string_view>

#include "gw/common/Error.h"
#include "gw/http/HttpTypes.h"

namespace gw::proxy {

class IAnswerOutput {
 public:
  virtual ~IAnswerOutput() = default;

  // A complete answer: any status, headers already filtered (HeaderPolicy), Content-Type apart
  // (empty: none given by the upstream).
  virtual Status SendWhole(int status, const http::Headers& headers, const std::string& contentType,
                           std::string_view body) = 0;
  // Starts a streamed multipart answer (status 200). `subType` is "related" or "mixed";
  // `partType` is the type parameter of the multipart Content-Type.
  virtual Status StartMultipart(const std::string& subType, const std::string& partType) = 0;
  // One part of the streamed answer; headers already filtered.
  virtual Status SendPart(const http::Headers& headers, std::string_view body) = 0;
  // An error document for the caller (JSON with the error code), when nothing was sent yet.
  virtual void SendError(const Error& error) = 0;
};

}  // namespace gw::proxy
