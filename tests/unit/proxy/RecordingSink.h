#pragma once
// An IResponseSink that keeps what it receives (status, headers, body, number of calls).
#include <functional>
#include <optional>
#include <string>

#include "gw/proxy/IResponseSink.h"

namespace gw::test {

class RecordingSink final : public gw::proxy::IResponseSink {
 public:
  bool OnHead(long s, const gw::http::Headers& h) override {
    ++heads;
    status = s;
    headers = h;
    return acceptHead;
  }
  bool OnBody(std::string_view data) override {
    ++bodyCalls;
    if (onBody) onBody(data);
    body.append(data);
    return !abortAfterBytes || body.size() < *abortAfterBytes;
  }
  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return {};
  }

  long status = 0;
  gw::http::Headers headers;
  std::string body;
  int heads = 0;
  int bodyCalls = 0;
  bool acceptHead = true;
  std::optional<size_t> abortAfterBytes;
  std::function<void(std::string_view)> onBody;
};

}  // namespace gw::test
