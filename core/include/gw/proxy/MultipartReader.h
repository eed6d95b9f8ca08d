#pragma once
// Incremental reader of a multipart body (RFC 2046; WADO-RS answers are multipart/related): bytes
// go in as they arrive, in pieces of any size, and each part comes out (headers and body) as soon
// as its closing delimiter has been seen. One part is held in memory at a time, never the whole
// answer; a part larger than `maxPartBytes` is an error.
//
// Accepted: a preamble before the first delimiter (discarded), transport padding (spaces and tabs)
// after a delimiter, parts without headers, an epilogue after the close delimiter (discarded).
// Errors (PXY-007): a body that ends before the close delimiter ("--boundary--"), malformed part
// headers, a part or its headers over the limits, data after a delimiter that is neither "--" nor
// padding + CRLF. After an error every further call fails with the same error.
//
// Parts with a Content-Length (what Orthanc and most DICOMweb servers send): when a part declares
// one valid length N (digits only, the same value if repeated, N <= maxPartBytes), its body is not
// searched for the delimiter. The reader waits for N bytes plus the delimiter's length and checks
// that the delimiter is exactly at N. If it is, the part ends there, even if the body itself
// contains the delimiter (then the sender did not follow RFC 2046; the bytes go on as data, the
// caller's answer is re-framed with another boundary). If it is not (a wrong or lying length), the
// reader searches from the part's first byte, as it does without a length, so the parts are then
// exactly those of the search. Every limit and error stays as without a length.
//
// Not thread safe: one reader per answer.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "gw/common/Error.h"
#include "gw/http/HttpTypes.h"

namespace gw::proxy {

class MultipartReader {
 public:
  struct Part {
    http::Headers headers;  // names lower-cased, values trimmed, in order
    std::string body;
  };
  // Receives each complete part (it may move the body away). An error stops the reader and is
  // returned by the Feed() call that delivered the part.
  using PartHandler = std::function<Status(Part&)>;

  static constexpr size_t kDefaultMaxHeaderBytes = 64 * 1024;

  MultipartReader(const std::string& boundary, size_t maxPartBytes, size_t maxHeaderBytes = kDefaultMaxHeaderBytes);

  // The boundary parameter of a multipart Content-Type (quoted or not), or PXY-007 when the type
  // is not multipart or the boundary is missing or invalid (1..70 characters, RFC 2046).
  static Result<std::string> BoundaryOf(std::string_view contentType);
  // Media type without parameters, lower-cased ("multipart/related").
  static std::string MediaTypeOf(std::string_view contentType);
  // The value of parameter `name` (lower-case) of a Content-Type, unquoted; nullopt if absent.
  static std::optional<std::string> ParameterOf(std::string_view contentType, std::string_view name);

  Status Feed(std::string_view data, const PartHandler& onPart);
  // The body is complete: PXY-007 unless the close delimiter has been seen. Parts still waiting for
  // their declared length (a length longer than the rest of the answer) are searched and delivered
  // to `onPart` first.
  Status Finish(const PartHandler& onPart);

  bool Closed() const { return state_ == State::Epilogue; }
  size_t PartsEmitted() const { return parts_; }

 private:
  enum class State { Preamble, AfterDelimiter, Headers, Body, Epilogue, Failed };

  Status Fail(const std::string& why);
  Status ParseHeaders(std::string_view block);
  Status Step(const PartHandler& onPart, bool& progressed);
  Status Run(const PartHandler& onPart);
  Status Deliver(const PartHandler& onPart, bool& progressed);  // part_ is complete
  std::string_view Pending() const { return std::string_view(buffer_).substr(head_); }
  void ClearBuffer() {
    buffer_.clear();
    head_ = 0;
  }
  void StartSearch();  // a declared length is dropped: the part's bytes are searched
  std::optional<size_t> DeclaredLength() const;

  const std::string dashBoundary_;   // "--" + boundary
  const std::string delimiter_;      // CRLF + "--" + boundary
  const size_t maxPartBytes_;
  const size_t maxHeaderBytes_;

  State state_ = State::Preamble;
  std::string buffer_;     // unparsed bytes (preamble tail, delimiter tail, header block) from head_ on
  size_t head_ = 0;        // bytes of buffer_ already consumed (dropped on the next Feed: one move
                           // per Feed, not one per part, when a piece holds many small parts)
  Part part_;              // the part being read; in State::Body its unparsed bytes come first,
                           // then Pending() (not empty only while expected_ is set)
  size_t scanFrom_ = 0;    // in part_.body: where the delimiter search resumes
  std::optional<size_t> expected_;  // the part's declared length, while it is trusted
  bool atStart_ = true;    // preamble: nothing consumed yet (the first delimiter needs no CRLF)
  size_t parts_ = 0;
  Error error_;
};

}  // namespace gw::proxy
