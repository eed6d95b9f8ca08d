#pragma once
// Turns one upstream answer (an IResponseSink) into calls on an IAnswerOutput:
//
//   - 200 with a multipart/related or multipart/mixed body (WADO-RS): streamed part by part. The
//     output's multipart answer starts when the first part is complete, so an upstream that fails
//     before that still gets a proper error status; each part is sent as soon as its closing
//     delimiter arrives. At most one part (maxPartBytes) is held.
//   - anything else (QIDO JSON, metadata, STOW answers, 202/409 with FailedSOPSequence, 401 with
//     WWW-Authenticate, 404, 5xx): buffered up to maxBufferedBytes and sent whole with the real
//     status, the returned headers (HeaderPolicy) and the body as received.
//
// Finish() completes the answer once the exchange is over. Its result says whether the caller's
// answer is complete (possibly an error document: nothing was sent before the failure) or broken
// (a multipart answer was started and cannot be completed: the caller must fail the HTTP request
// without writing the closing boundary). A missing closing boundary is not enough: Orthanc 1.10
// ends its multipart answers by closing the connection, and its DICOMweb client then stores the
// parts it got and reports success (measured: a retrieve job of 4 instances cut after 3 ends in
// "Success"). So a broken application/dicom answer also gets a last part that is not DICOM
// (it starts with kAbortMarker): every DICOMweb client fails on it, Orthanc's retrieve job
// included. Other part types (frames, bulk data) get no such part: a bogus frame could pass for
// pixel data; their clients see the missing boundary and a short count.
//
// Not thread safe: one writer per answer, used by one thread at a time.
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "gw/proxy/IAnswerOutput.h"
#include "gw/proxy/IResponseSink.h"
#include "gw/proxy/MultipartReader.h"

namespace gw::proxy {

struct AnswerLimits {
  size_t maxBufferedBytes = 512u * 1024 * 1024;  // a non-multipart answer is held whole
  size_t maxPartBytes = 2048u * 1024 * 1024;     // one part of a multipart answer
};

class AnswerWriter final : public IResponseSink {
 public:
  enum class Outcome { Complete, Broken };
  static constexpr const char* kAbortMarker = "DICOMWEB-OAUTH-GATEWAY-ABORTED";

  AnswerWriter(IAnswerOutput& output, AnswerLimits limits = {}) : output_(output), limits_(limits) {}

  bool OnHead(long status, const http::Headers& headers) override;
  bool OnBody(std::string_view data) override;

  // `exchange`: what the exchange returned (status or error). On an error with nothing sent, the
  // output gets SendError() with the writer's own error when it caused the abort, else `exchange`'s.
  Outcome Finish(const Result<long>& exchange);

  // The error that made the writer abort or fail, if any (for logs).
  const std::optional<Error>& Failure() const { return failure_; }
  bool Started() const { return started_; }
  uint64_t BodyBytes() const { return bodyBytes_; }
  size_t PartsSent() const { return partsSent_; }

 private:
  Status SendPart(MultipartReader::Part& part);
  Outcome Abort();

  IAnswerOutput& output_;
  AnswerLimits limits_;
  long status_ = 0;
  http::Headers headers_;       // filtered
  std::string contentType_;
  std::string body_;            // buffered mode
  std::unique_ptr<MultipartReader> multipart_;
  std::string subType_;
  std::string partType_;        // type parameter, if any
  std::string startedType_;     // media type the multipart answer was started with
  bool started_ = false;        // something was sent to the output
  bool headSeen_ = false;
  bool outputFailed_ = false;   // the output refused a call (caller gone)
  uint64_t bodyBytes_ = 0;
  size_t partsSent_ = 0;
  std::optional<Error> failure_;
};

}  // namespace gw::proxy
