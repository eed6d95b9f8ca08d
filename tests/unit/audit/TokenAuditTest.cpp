// AuditedTokenSource: each acquisition outcome becomes one event, never with the token in it.
#include <mutex>

#include <catch2/catch.hpp>

#include "AuditTestSupport.h"
#include "gw/audit/AuditedTokenSource.h"
#include "gw/token/SystemClock.h"

using namespace gw;
using namespace gw::audit;

namespace {

class RecordingAuditSink : public IAuditSink {
 public:
  void Record(AuditEvent event) override {
    std::lock_guard<std::mutex> lock(mutex_);
    events.push_back(std::move(event));
  }
  std::vector<AuditEvent> events;

 private:
  std::mutex mutex_;
};

class ScriptedSource : public token::ITokenSource {
 public:
  Result<token::TokenRecord> Fetch(token::SteadyTime) override {
    if (fail) return MakeError("AUTH-001", "the identity provider refused the client credentials (invalid_client)", 401);
    token::TokenRecord r;
    r.accessToken = "very-secret-access-token-77aa";
    r.expiresAt = std::chrono::steady_clock::now() + std::chrono::seconds(300);
    r.scopes = {"dicomweb"};
    r.provider = "client_credentials";
    return r;
  }
  void Invalidated() override { ++invalidated; }
  bool fail = false;
  int invalidated = 0;
};

std::string Text(const AuditEvent& e) { return CanonicalJson(e.fields); }

}  // namespace

TEST_CASE("AuditedTokenSource/records acquisitions and failures without the token", "[audit]") {
  auto inner = std::make_shared<ScriptedSource>();
  auto sink = std::make_shared<RecordingAuditSink>();
  AuditedTokenSource source(inner, sink, "client_credentials", [] { return std::vector<std::string>{"cloud", "inj"}; },
                            token::SystemClock::Instance());

  auto ok = source.Fetch(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  REQUIRE(ok.Ok());
  CHECK(ok.Value().accessToken == "very-secret-access-token-77aa");  // passed through unchanged
  inner->fail = true;
  auto failed = source.Fetch(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  REQUIRE_FALSE(failed.Ok());
  CHECK(failed.GetError().code == "AUTH-001");
  source.Invalidated();
  CHECK(inner->invalidated == 1);

  REQUIRE(sink->events.size() == 2);
  const AuditEvent& a = sink->events[0];
  CHECK(a.type == "token.acquired");
  CHECK(a.server == "cloud");
  CHECK(std::string(a.fields["provider"].GetString()) == "client_credentials");
  CHECK(a.fields["servers"].Size() == 2);
  CHECK(a.fields["expiresInSeconds"].GetInt64() > 290);
  CHECK(std::string(a.fields["scopes"][0].GetString()) == "dicomweb");
  CHECK(Text(a).find("very-secret-access-token") == std::string::npos);
  const AuditEvent& f = sink->events[1];
  CHECK(f.type == "token.failed");
  CHECK(std::string(f.fields["code"].GetString()) == "AUTH-001");
  CHECK(Text(f).find("invalid_client") != std::string::npos);
}

TEST_CASE("DeferredSink/discards until a target is set, then forwards", "[audit]") {
  auto target = std::make_shared<RecordingAuditSink>();
  DeferredSink deferred;
  deferred.Record(AuditEvent("lost.event"));
  CHECK(deferred.Accepting());
  deferred.SetTarget(target);
  deferred.Record(AuditEvent("kept.event"));
  REQUIRE(target->events.size() == 1);
  CHECK(target->events[0].type == "kept.event");
  CHECK(IsoTimeMs(std::chrono::system_clock::time_point(std::chrono::milliseconds(1795885384123))) ==
        "2026-11-28T17:03:04.123Z");
}
