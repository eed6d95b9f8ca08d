#pragma once
// Test doubles of the proxy service's surroundings: the answer (IProxyAnswer), the upstream
// exchange (ProxyDependencies::forward) and the audit sink.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gw/audit/IAuditSink.h"
#include "gw/proxy/ProxyService.h"

namespace gw::test {

class FakeProxyAnswer final : public gw::proxy::IProxyAnswer {
 public:
  gw::Status SendWhole(int s, const gw::http::Headers& h, const std::string& contentType,
                       std::string_view b) override {
    status = s;
    headers = h;
    type = contentType;
    body = std::string(b);
    return gw::Status::Success();
  }
  gw::Status StartMultipart(const std::string&, const std::string&) override {
    multipart = true;
    return gw::Status::Success();
  }
  gw::Status SendPart(const gw::http::Headers&, std::string_view b) override {
    body += std::string(b);
    return gw::Status::Success();
  }
  void SendError(const gw::Error& e) override { error = e; }
  void SendRefusal(const gw::Error& e, std::chrono::seconds after) override {
    error = e;
    refused = true;
    retryAfter = after;
  }

  int status = 0;
  gw::http::Headers headers;
  std::string type;
  std::string body;
  bool multipart = false;
  bool refused = false;
  std::optional<gw::Error> error;
  std::chrono::seconds retryAfter{0};
};

// The upstream: every request is recorded; `answer` decides what the upstream does with it (the
// default answers 200 with a small JSON body).
struct FakeUpstream {
  struct Seen {
    std::string method;
    std::string url;
    gw::http::Headers headers;
    std::string body;
    std::chrono::seconds minRemaining{0};
  };
  std::mutex mutex;
  std::vector<Seen> seen;
  // Returns the error to fail with, or the status to answer.
  std::function<gw::Result<long>(const Seen&)> answer = [](const Seen&) -> gw::Result<long> { return 200L; };

  std::function<gw::Result<long>(const gw::proxy::ServerRoute&, const gw::proxy::ForwardRequest&,
                                 gw::proxy::IResponseSink&)>
  Forward() {
    return [this](const gw::proxy::ServerRoute&, const gw::proxy::ForwardRequest& r,
                  gw::proxy::IResponseSink& sink) -> gw::Result<long> {
      Seen s{r.method, r.url, r.headers, {}, r.minRemaining};
      if (r.body != nullptr) {
        char buffer[4096];
        for (;;) {
          auto n = r.body->Read(buffer, sizeof buffer);
          if (!n) return n.GetError();
          if (n.Value() == 0) break;
          s.body.append(buffer, n.Value());
        }
      }
      gw::Result<long> result = answer(s);
      {
        std::lock_guard<std::mutex> lock(mutex);
        seen.push_back(s);
      }
      if (!result) return result;
      const std::string body = "{\"got\":" + std::to_string(s.body.size()) + "}";
      if (!sink.OnHead(result.Value(), {{"content-type", "application/dicom+json"}})) return gw::MakeError("PXY-007", "sink", 502);
      if (!sink.OnBody(body)) return gw::MakeError("PXY-007", "sink", 502);
      return result;
    };
  }
};

class RecordingAuditSink final : public gw::audit::IAuditSink {
 public:
  void Record(gw::audit::AuditEvent event) override {
    std::lock_guard<std::mutex> lock(mutex);
    events.push_back(std::move(event));
  }
  bool Accepting() const override { return accepting; }

  // The event's fields as JSON text.
  static std::string Text(const gw::audit::AuditEvent& e) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    e.fields.Accept(writer);
    return buffer.GetString();
  }

  std::mutex mutex;
  std::vector<gw::audit::AuditEvent> events;
  bool accepting = true;
};

}  // namespace gw::test
