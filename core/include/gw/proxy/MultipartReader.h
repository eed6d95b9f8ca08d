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

  MultipartReader(std::string boundary, size_t maxPartBytes, size_t maxHeaderBytes = kDefaultMaxHeaderBytes);

  // The boundary parameter of a multipart Content-Type (quoted or not), or PXY-007 when the type
  // is not multipart or the boundary is missing or invalid (1..70 characters, RFC 2046).
  static Result<std::string> BoundaryOf(std::string_view contentType);
  // Media type without parameters, lower-cased ("multipart/related").
  static std::string MediaTypeOf(std::string_view contentType);
  // The value of parameter `name` (lower-case) of a Content-Type, unquoted; nullopt if absent.
  static std::optional<std::string> ParameterOf(std::string_view contentType, std::string_view name);

  Status Feed(std::string_view data, const PartHandler& onPart);
  // The body is complete: PXY-007 unless the close delimiter has been seen.
  Status Finish();

  bool Closed() const { return state_ == State::Epilogue; }
  size_t PartsEmitted() const { return parts_; }

 private:
  enum class State { Preamble, AfterDelimiter, Headers, Body, Epilogue, Failed };

  Status Fail(std::string why);
  Status ParseHeaders(std::string_view block);
  Status Step(const PartHandler& onPart, bool& progressed);

  const std::string dashBoundary_;   // "--" + boundary
  const std::string delimiter_;      // CRLF + "--" + boundary
  const size_t maxPartBytes_;
  const size_t maxHeaderBytes_;

  State state_ = State::Preamble;
  std::string buffer_;     // unparsed bytes (preamble tail, delimiter tail, header block)
  Part part_;              // the part being read
  size_t scanFrom_ = 0;    // in part_.body: where the delimiter search resumes
  bool atStart_ = true;    // preamble: nothing consumed yet (the first delimiter needs no CRLF)
  size_t parts_ = 0;
  Error error_;
};

}  // namespace gw::proxy
