#pragma once
// Doubles for the inject side's Orthanc interfaces (InjectService.h, JobRecovery.h) and a gateway
// whose identity provider is a fake HTTP client, so the filter's rules and job recovery run
// without Orthanc.
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/ConfigTestSupport.h"
#include "gw/audit/IAuditSink.h"
#include "gw/http/IHttpClient.h"
#include "gw/service/Gateway.h"
#include "gw/service/InjectService.h"

namespace gw::service::test {

// The identity provider: every token request gets a new bearer token ("token-1", "token-2", ...)
// valid for an hour, or `status` with an OAuth error when failing is set.
class FakeIdp : public http::IHttpClient {
 public:
  std::atomic<bool> failing{false};
  std::atomic<int> requests{0};

  Result<http::HttpResponse> Perform(const http::HttpRequest&) override {
    const int n = ++requests;
    http::HttpResponse response;
    response.headers.emplace_back("content-type", "application/json");
    if (failing) {
      response.status = 400;
      response.body = R"({"error": "invalid_client"})";
      return response;
    }
    response.status = 200;
    response.body = R"({"access_token": "token-)" + std::to_string(n) + R"(", "token_type": "Bearer", "expires_in": 3600})";
    return response;
  }
};

class RecordingWriter : public IDefinitionWriter {
 public:
  Status Write(const std::string& server, const proxy::DicomWebDefinition& definition) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = definition.httpHeaders.find("Authorization");
    written_.emplace_back(server, it == definition.httpHeaders.end() ? std::string() : it->second);
    return Status::Success();
  }
  std::vector<std::pair<std::string, std::string>> Written() {
    std::lock_guard<std::mutex> lock(mutex_);
    return written_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<std::string, std::string>> written_;  // server, Authorization
};

// Orthanc's REST API: jobs by id (as GET /jobs/{id} shows them), resubmissions counted.
class FakeOrthanc : public IOrthancRest {
 public:
  RestReply GetJob(const std::string& jobId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++gets;
    getThreads.push_back(std::this_thread::get_id());
    const auto it = jobs.find(jobId);
    if (it == jobs.end()) return {404, R"({"HttpStatus": 404})"};
    return {200, it->second};
  }
  RestReply ResubmitJob(const std::string& jobId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    resubmitted.push_back(jobId);
    return {resubmitStatus, "{}"};
  }
  RestReply ListDefinitions() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return {definitionsStatus, definitions};
  }
  int Gets() {
    std::lock_guard<std::mutex> lock(mutex_);
    return gets;
  }
  std::vector<std::thread::id> GetThreads() {
    std::lock_guard<std::mutex> lock(mutex_);
    return getThreads;
  }
  std::vector<std::string> Resubmitted() {
    std::lock_guard<std::mutex> lock(mutex_);
    return resubmitted;
  }

  // A failed DICOMweb client job as DICOMweb 1.7 reports it.
  void AddJob(const std::string& id, const std::string& type, int functionErrorCode) {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs[id] = R"({"ID": ")" + id + R"(", "Type": ")" + type + R"(", "State": "Failure", "ErrorCode": )" +
               std::to_string(functionErrorCode) + R"(, "Content": {"FunctionErrorCode": )" +
               std::to_string(functionErrorCode) + "}}";
  }

  std::map<std::string, std::string> jobs;
  std::vector<std::string> resubmitted;
  uint16_t resubmitStatus = 200;
  uint16_t definitionsStatus = 200;
  std::string definitions = "{}";
  int gets = 0;
  std::vector<std::thread::id> getThreads;

 private:
  std::mutex mutex_;
};

class RecordingAudit : public audit::IAuditSink {
 public:
  void Record(audit::AuditEvent event) override {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(std::move(event));
  }
  bool Accepting() const override { return accepting; }
  // Type and the string or bool facts of each event, for assertions.
  size_t Count(const std::string& type) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t n = 0;
    for (const auto& e : events_) n += e.type == type;
    return n;
  }
  std::string Fact(size_t index, const char* key) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (index >= events_.size() || !events_[index].fields.HasMember(key)) return "<absent>";
    const auto& v = events_[index].fields[key];
    if (v.IsString()) return v.GetString();
    if (v.IsBool()) return v.GetBool() ? "true" : "false";
    if (v.IsInt64()) return std::to_string(v.GetInt64());
    return "<other>";
  }
  size_t Size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_.size();
  }
  std::atomic<bool> accepting{true};

 private:
  std::mutex mutex_;
  std::vector<audit::AuditEvent> events_;
};

// A gateway over `servers` (the JSON object of DicomWebOAuth.Servers), `extraGlobal` keys of the
// DicomWebOAuth section and `extraRoot` keys of Orthanc's configuration.
inline std::unique_ptr<Gateway> MakeGateway(std::shared_ptr<http::IHttpClient> idp, const std::string& servers,
                                            const std::string& extraGlobal = "", const std::string& extraRoot = "") {
  const std::string text = "{" + extraRoot + (extraRoot.empty() ? "" : ",") + R"("DicomWebOAuth": {)" +
                           extraGlobal + (extraGlobal.empty() ? "" : ",") + R"("Servers": )" + servers + "}}";
  const config::ParseResult parsed = config::test::ParseJson(text);
  INFO(config::test::Dump(parsed.diagnostics));
  REQUIRE(parsed.Ok());
  auto gateway = Gateway::Create(*parsed.config, std::move(idp));
  INFO((gateway.Ok() ? std::string() : gateway.GetError().ToString()));
  REQUIRE(gateway.Ok());
  return std::move(gateway).Value();
}

// A server object of DicomWebOAuth.Servers with a client-credentials provider; `extra` adds keys.
inline std::string Server(const std::string& extra = "") {
  return R"({"Url": "https://dicom.example.com/", "TokenEndpoint": "https://idp.example.com/token",
             "ClientId": "orthanc", "ClientSecret": "inject-test-secret")" +
         (extra.empty() ? std::string() : ", " + extra) + "}";
}

inline ClientCall Call(std::string method, std::string uri, http::Headers headers = {}) {
  ClientCall call;
  call.method = std::move(method);
  call.uri = std::move(uri);
  call.ip = "127.0.0.1";
  call.headers = std::move(headers);
  return call;
}

}  // namespace gw::service::test
