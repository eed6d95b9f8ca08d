// Job recovery (gw/service/JobRecovery.h) and the worker that runs it (TaskWorker.h,
// InjectService.h), against a fake of Orthanc's REST API.
#include <catch2/catch.hpp>

#include <algorithm>
#include <future>
#include <thread>

#include "InjectTestSupport.h"
#include "gw/service/TaskWorker.h"

using namespace gw::service;
using namespace gw::service::test;

namespace {

class FakeTokens : public IInjectTokens {
 public:
  gw::Status EnsureFresh(const std::string& server, std::chrono::seconds, std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lock(mutex_);
    renewed.push_back(server);
    if (failWith) return *failWith;
    return gw::Status::Success();
  }
  void CredentialRejected(const std::string& server) override {
    std::lock_guard<std::mutex> lock(mutex_);
    rejected.push_back(server);
  }
  std::optional<gw::Error> failWith;
  std::vector<std::string> renewed;
  std::vector<std::string> rejected;

 private:
  std::mutex mutex_;
};

struct Recovery {
  FakeOrthanc orthanc;
  FakeTokens tokens;
  std::vector<std::string> suspects{"inj"};
  std::shared_ptr<RecordingAudit> audit = std::make_shared<RecordingAudit>();
  JobRecovery recovery{orthanc, tokens, [this] { return suspects; }, audit};
};

constexpr const char* kRetrieve = "DicomWebWadoRetrieveClient";
constexpr const char* kStow = "DicomWebStowClient";

// Waits (bounded) until `done` holds; false if it never did.
template <typename F>
bool WaitFor(F done, std::chrono::seconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

TEST_CASE("JobRecovery: a retrieve refused for bad credentials is resubmitted exactly once", "[service][inject][jobs]") {
  Recovery r;
  r.orthanc.AddJob("j29", kRetrieve, 29);
  r.orthanc.AddJob("j9", kRetrieve, 9);  // a WADO-RS 401 with a JSON body reports NetworkProtocol
  CHECK(r.recovery.Handle("j29") == JobRecovery::Outcome::Resubmitted);
  CHECK(r.recovery.Handle("j9") == JobRecovery::Outcome::Resubmitted);
  // The resubmitted job fails again: it is not resubmitted a second time.
  CHECK(r.recovery.Handle("j29") == JobRecovery::Outcome::AlreadyHandled);
  CHECK(r.recovery.Handle("j9") == JobRecovery::Outcome::AlreadyHandled);
  CHECK(r.orthanc.Resubmitted() == std::vector<std::string>{"j29", "j9"});
  // The token was dropped and renewed before each resubmission.
  CHECK(r.tokens.rejected == std::vector<std::string>{"inj", "inj"});
  CHECK(r.tokens.renewed == std::vector<std::string>{"inj", "inj"});
  REQUIRE(r.audit->Count("job.resubmitted") == 2);
  CHECK(r.audit->Fact(0, "job") == "j29");
  CHECK(r.audit->Fact(0, "resubmitted") == "true");
  CHECK(r.audit->Fact(0, "functionError") == "29");
  CHECK(r.audit->Fact(0, "code") == "<absent>");
}

TEST_CASE("JobRecovery: a STOW refused for bad credentials gets a new token but is never resubmitted", "[service][inject][jobs]") {
  Recovery r;
  r.orthanc.AddJob("stow", kStow, 29);
  CHECK(r.recovery.Handle("stow") == JobRecovery::Outcome::NotResubmitted);
  CHECK(r.orthanc.Resubmitted().empty());
  CHECK(r.tokens.renewed == std::vector<std::string>{"inj"});
  REQUIRE(r.audit->Size() == 1);
  CHECK(r.audit->Fact(0, "code") == "INJ-003");
  CHECK(r.audit->Fact(0, "resubmitted") == "false");
}

TEST_CASE("JobRecovery: other failures never drop a token nor resubmit", "[service][inject][jobs]") {
  Recovery r;
  r.orthanc.AddJob("stow-network", kStow, 9);        // an upstream 503 or reset during a STOW
  r.orthanc.AddJob("retrieve-internal", kRetrieve, 1);
  r.orthanc.AddJob("retrieve-timeout", kRetrieve, 11);
  r.orthanc.AddJob("archive", "Archive", 29);       // not a DICOMweb job
  r.orthanc.jobs["no-content"] = R"({"Type": "DicomWebWadoRetrieveClient"})";
  r.orthanc.jobs["string-code"] = R"({"Type": "DicomWebWadoRetrieveClient", "Content": {"FunctionErrorCode": "29"}})";
  r.orthanc.jobs["not-json"] = "{\"Type\": \"DicomWebWadoRetrieveClient\", ";
  for (const char* id : {"stow-network", "retrieve-internal", "retrieve-timeout", "archive", "no-content", "string-code",
                         "not-json", "unknown-job"}) {
    INFO(id);
    CHECK(r.recovery.Handle(id) == JobRecovery::Outcome::Ignored);
  }
  CHECK(r.orthanc.Resubmitted().empty());
  CHECK(r.tokens.rejected.empty());
  CHECK(r.tokens.renewed.empty());
  CHECK(r.audit->Size() == 0);
}

TEST_CASE("JobRecovery: without a recent inject-mode call the job is attributed to no server", "[service][inject][jobs]") {
  Recovery r;
  r.suspects.clear();
  r.orthanc.AddJob("j", kRetrieve, 29);
  CHECK(r.recovery.Handle("j") == JobRecovery::Outcome::Ignored);
  CHECK(r.tokens.rejected.empty());
  CHECK(r.orthanc.Resubmitted().empty());
}

TEST_CASE("JobRecovery: a token that cannot be renewed stops the resubmission with its code", "[service][inject][jobs]") {
  Recovery r;
  r.suspects = {"a", "b"};
  r.tokens.failWith = gw::MakeError("TOK-003", "the identity provider refused the client", 503);
  r.orthanc.AddJob("j", kRetrieve, 29);
  CHECK(r.recovery.Handle("j") == JobRecovery::Outcome::RenewFailed);
  CHECK(r.orthanc.Resubmitted().empty());
  CHECK(r.tokens.renewed == std::vector<std::string>{"a"});  // the first failure ends it
  REQUIRE(r.audit->Size() == 1);
  CHECK(r.audit->Fact(0, "code") == "TOK-003");
  CHECK(r.audit->Fact(0, "resubmitted") == "false");
  // Handled once: a later failure event of the same job does not try again.
  r.tokens.failWith.reset();
  CHECK(r.recovery.Handle("j") == JobRecovery::Outcome::AlreadyHandled);
}

TEST_CASE("JobRecovery: Orthanc refusing the resubmission is INJ-004", "[service][inject][jobs]") {
  Recovery r;
  r.orthanc.resubmitStatus = 500;
  r.orthanc.AddJob("j", kRetrieve, 29);
  CHECK(r.recovery.Handle("j") == JobRecovery::Outcome::ResubmitFailed);
  REQUIRE(r.audit->Size() == 1);
  CHECK(r.audit->Fact(0, "code") == "INJ-004");
  CHECK(r.audit->Fact(0, "resubmitted") == "false");
}

TEST_CASE("TaskWorker: tasks run in order and a throwing task does not end the worker", "[service][worker]") {
  TaskWorker worker("test");
  std::mutex mutex;
  std::vector<int> ran;
  worker.Post([&] {
    std::lock_guard<std::mutex> lock(mutex);
    ran.push_back(1);
  });
  worker.Start(nullptr, std::chrono::hours(1));  // a task posted before Start() waits for it
  worker.Post([] { throw std::runtime_error("task failed"); });
  worker.Post([&] {
    std::lock_guard<std::mutex> lock(mutex);
    ran.push_back(2);
  });
  CHECK(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return ran.size() == 2;
  }));
  std::lock_guard<std::mutex> lock(mutex);
  CHECK(ran == std::vector<int>{1, 2});
}

TEST_CASE("TaskWorker: the periodic task runs while idle, and Stop never waits for the period", "[service][worker]") {
  TaskWorker worker("test");
  std::atomic<int> ticks{0};
  worker.Start([&] { ++ticks; }, std::chrono::milliseconds(10));
  CHECK(WaitFor([&] { return ticks >= 2; }));
  worker.Stop();
  const int after = ticks;
  CHECK_FALSE(worker.Running());
  worker.Post([&] { ticks += 100; });  // dropped: the worker is stopped (its thread is joined)
  CHECK(ticks == after);

  TaskWorker idle("test");
  idle.Start([] {}, std::chrono::hours(1));
  auto stopped = std::async(std::launch::async, [&] { idle.Stop(); });
  CHECK(stopped.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
}

TEST_CASE("InjectService: a JobFailure is handled on the worker, never on the caller's thread", "[service][inject][jobs]") {
  auto idp = std::make_shared<FakeIdp>();
  auto gateway = MakeGateway(idp, "{\"inj\": " + Server(R"("Mode": "inject")") + "}");
  auto orthanc = std::make_shared<FakeOrthanc>();
  auto writer = std::make_shared<RecordingWriter>();
  {
    InjectService service(*gateway, writer, orthanc, "/dicom-web/", nullptr);
    REQUIRE(service.Recovery() != nullptr);
    orthanc->AddJob("j", kRetrieve, 29);
    CHECK(service.Filter(Call("POST", "/dicom-web/servers/inj/retrieve")).allow);  // attributes the job to inj
    // Orthanc signals job events under its jobs-registry lock: the callback must return without a
    // REST call (one from there deadlocks /jobs). Events before OrthancStarted wait for the worker.
    service.OnJobFailure("j");
    service.OnJobFailure("j");  // Orthanc may signal the same failure again
    CHECK(orthanc->Gets() == 0);
    service.OnOrthancStarted();
    CHECK(WaitFor([&] { return orthanc->Gets() == 2; }));
    const auto threads = orthanc->GetThreads();
    CHECK(std::find(threads.begin(), threads.end(), std::this_thread::get_id()) == threads.end());
  }
  CHECK(orthanc->Resubmitted() == std::vector<std::string>{"j"});
  gateway->Stop();
}

TEST_CASE("InjectService: destroying the service stops its worker without hang, work still queued", "[service][inject][worker]") {
  auto idp = std::make_shared<FakeIdp>();
  auto gateway = MakeGateway(idp, "{\"inj\": " + Server(R"("Mode": "inject")") + "}");
  auto orthanc = std::make_shared<FakeOrthanc>();
  auto service = std::make_unique<InjectService>(*gateway, std::make_shared<RecordingWriter>(), orthanc, "/dicom-web/",
                                                 nullptr, std::chrono::hours(1));
  service->OnOrthancStarted();
  for (int i = 0; i < 50; ++i) service->OnJobFailure("job-" + std::to_string(i));
  auto destroyed = std::async(std::launch::async, [&] { service.reset(); });
  CHECK(destroyed.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  // A token renewed after the service is gone reaches no dangling object (the listener was detached).
  CHECK(gateway->TestServer("inj", true).status == 200);
  gateway->Stop();
}

TEST_CASE("InjectService: a definition changed behind the gateway's back is written again", "[service][inject]") {
  auto idp = std::make_shared<FakeIdp>();
  auto gateway = MakeGateway(idp, "{\"inj\": " + Server(R"("Mode": "inject")") + ", \"px\": " +
                                      Server(R"("Mode": "proxy")") + "}");
  auto orthanc = std::make_shared<FakeOrthanc>();
  auto writer = std::make_shared<RecordingWriter>();
  gw::proxy::DicomWebDefinition loopback;
  loopback.url = "http://127.0.0.1:8042/oauth-dicom-web/servers/px/";
  loopback.httpHeaders["X-Loopback"] = "secret";
  {
    InjectService service(*gateway, writer, orthanc, "/dicom-web/",
                          [&](const std::string& server) -> std::optional<gw::proxy::DicomWebDefinition> {
                            if (server == "px") return loopback;
                            return std::nullopt;
                          });
    service.Inject()->Start();
    REQUIRE(writer->Written().size() == 1);
    const std::string authorization = writer->Written()[0].second;
    // Both definitions are gone from the DICOMweb plugin: both are written again, inject mode with
    // the token it holds (no IdP call).
    orthanc->definitions = "{}";
    const int idpCalls = idp->requests;
    service.RestoreDefinitions();
    const auto written = writer->Written();
    REQUIRE(written.size() == 3);
    std::map<std::string, std::string> byServer(written.begin() + 1, written.end());
    CHECK(byServer["inj"] == authorization);
    CHECK(byServer.count("px") == 1);
    CHECK(idp->requests == idpCalls);
    // The DICOMweb plugin is not there: nothing is written.
    orthanc->definitionsStatus = 404;
    service.RestoreDefinitions();
    CHECK(writer->Written().size() == 3);
  }
  gateway->Stop();
}
