#pragma once
// Receives one upstream answer as it arrives: status and headers first, then body bytes. Called
// on the thread that runs the exchange. Returning false aborts the transfer (the sink keeps the
// reason; the exchange then reports a generic PXY-007 that the sink's owner may replace).
#include <string_view>

#include "gw/http/HttpTypes.h"

namespace gw::proxy {

class IResponseSink {
 public:
  virtual ~IResponseSink() = default;
  // Exactly once per answer, before any body byte. `headers` have lower-case names, in the order
  // received (interim 1xx answers are not reported).
  virtual bool OnHead(long status, const http::Headers& headers) = 0;
  // Zero or more times; `data` is only valid during the call.
  virtual bool OnBody(std::string_view data) = 0;
};

}  // namespace gw::proxy
