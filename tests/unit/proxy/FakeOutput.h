#pragma once
// An IAnswerOutput that records what it is asked to send (for AnswerWriter and end-to-end tests).
#include <optional>
#include <string>
#include <vector>

#include "gw/proxy/IAnswerOutput.h"

namespace gw::test {

class FakeOutput final : public gw::proxy::IAnswerOutput {
 public:
  struct Whole {
    int status = 0;
    gw::http::Headers headers;
    std::string contentType;
    std::string body;
  };
  struct Part {
    gw::http::Headers headers;
    std::string body;
  };

  gw::Status SendWhole(int status, const gw::http::Headers& headers, const std::string& contentType,
                       std::string_view body) override {
    whole = Whole{status, headers, contentType, std::string(body)};
    ++calls;
    return gw::Status::Success();
  }
  gw::Status StartMultipart(const std::string& subType, const std::string& partType) override {
    multipart = subType + "|" + partType;
    ++calls;
    return gw::Status::Success();
  }
  gw::Status SendPart(const gw::http::Headers& headers, std::string_view body) override {
    ++calls;
    if (failPartsAfter && parts.size() >= *failPartsAfter) {
      return gw::Status(gw::MakeError("PXY-007", "client closed the connection", 502));
    }
    parts.push_back(Part{headers, std::string(body)});
    return gw::Status::Success();
  }
  void SendError(const gw::Error& e) override {
    error = e;
    ++calls;
  }

  std::optional<Whole> whole;
  std::optional<std::string> multipart;
  std::vector<Part> parts;
  std::optional<gw::Error> error;
  std::optional<size_t> failPartsAfter;
  int calls = 0;
};

}  // namespace gw::test
