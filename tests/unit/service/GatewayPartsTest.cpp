// The pieces Gateway.cpp was split into, each on its own: reload history, request signing,
// the status/servers views and the token identity the builder keys tokens by.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "gw/common/Json.h"
#include "gw/service/ReloadHistory.h"
#include "gw/service/RequestSigner.h"
#include "gw/service/StatusViews.h"
#include "gw/token/SystemClock.h"
#include "service/GatewayBuilder.h"

using namespace gw;
using namespace gw::service;

namespace {

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

std::shared_ptr<const rapidjson::Document> Raw(const std::string& text) {
  return std::make_shared<const rapidjson::Document>(Parse(text));
}

class RecordingSink : public audit::IAuditSink {
 public:
  void Record(audit::AuditEvent event) override { events.push_back(std::move(event)); }
  std::vector<audit::AuditEvent> events;
};

uint64_t ReloadCount(MetricsRegistry& m, const char* trigger, const char* outcome) {
  return m.GetCounter("dicomweb_oauth_script_reloads_total", "", {{"trigger", trigger}, {"outcome", outcome}})
      .Value();
}

lua::SnapshotInfo Snapshot(uint64_t version) {
  lua::SnapshotInfo s;
  s.version = version;
  s.digest = "d" + std::to_string(version);
  return s;
}

const std::string kEmpty;
const std::string& NoProvider(const std::string&) { return kEmpty; }

}  // namespace

TEST_CASE("ReloadHistory/counts, audits and remembers each reload", "[service][reload]") {
  auto sink = std::make_shared<RecordingSink>();
  ReloadHistory history(sink);
  history.Add(ReloadTrigger::Start, Result<lua::SnapshotInfo>(Snapshot(1)), 0, 1000);

  auto metrics = std::make_shared<MetricsRegistry>();
  history.UseMetrics(metrics);
  // The start's reload happened before the registry: counted now; every other series exists at 0.
  CHECK(ReloadCount(*metrics, "start", "success") == 1);
  CHECK(ReloadCount(*metrics, "rest", "failure") == 0);
  CHECK(metrics->RenderPrometheus().find("trigger=\"file-watch\"") != std::string::npos);

  history.Add(ReloadTrigger::Rest, Result<lua::SnapshotInfo>(MakeError("LUA-001", "x.lua:3: syntax")), 1, 2000);
  history.Add(ReloadTrigger::FileWatch, Result<lua::SnapshotInfo>(MakeError("LUA-003", "bad contract")), 1, 3000);
  CHECK(ReloadCount(*metrics, "rest", "failure") == 1);
  CHECK(ReloadCount(*metrics, "file-watch", "failure") == 1);
  ReloadRecord last = history.Last();
  CHECK_FALSE(last.ok);
  CHECK(last.trigger == ReloadTrigger::FileWatch);
  CHECK(last.atUnixMs == 3000);
  CHECK(last.failures == 2);
  CHECK(last.error.code == "LUA-003");
  CHECK(last.snapshotVersion == 1);

  history.Add(ReloadTrigger::Rest, Result<lua::SnapshotInfo>(Snapshot(2)), 0, 4000);
  last = history.Last();
  CHECK(last.ok);
  CHECK(last.snapshotVersion == 2);
  CHECK(last.error.code.empty());
  CHECK(last.failures == 2);  // failures since start, not reset by a success

  REQUIRE(sink->events.size() == 4);
  CHECK(sink->events[0].type == "script.published");
  CHECK(sink->events[1].type == "script.refused");
  CHECK(sink->events[3].type == "script.published");
}

TEST_CASE("RequestSigner/the sign context joins repeated headers in arrival order", "[service][sign]") {
  const http::Headers headers = {{"x-amz-meta", "a"}, {"host", "h"}, {"x-amz-meta", "b"}};
  proxy::OutgoingRequest request{"GET", "https://u.example/dicom-web/studies", &headers, "abc"};
  const auto config = Parse(R"({"Region": "eu-west-1"})");

  SECTION("with a credential and a fixed time") {
    const auto ctx = BuildSignContext("aws", &config, std::string("cred"), request, "20260101T000000Z");
    CHECK(std::string(ctx["credential"].GetString()) == "cred");
    CHECK(std::string(ctx["server"].GetString()) == "aws");
    CHECK(std::string(ctx["config"]["Region"].GetString()) == "eu-west-1");
    CHECK(std::string(ctx["request"]["method"].GetString()) == "GET");
    CHECK(std::string(ctx["request"]["payload_sha256"].GetString()) == "abc");
    CHECK(std::string(ctx["request"]["headers"]["x-amz-meta"].GetString()) == "a,b");
    CHECK(std::string(ctx["time"].GetString()) == "20260101T000000Z");
    auto first = ctx["request"]["headers"].MemberBegin();
    CHECK(std::string(first->name.GetString()) == "x-amz-meta");
  }
  SECTION("without credential, configuration or time") {
    const auto ctx = BuildSignContext("aws", nullptr, std::nullopt, request, "");
    CHECK_FALSE(ctx.HasMember("credential"));
    CHECK_FALSE(ctx.HasMember("time"));
    CHECK(ctx["config"].IsObject());
    CHECK(ctx["config"].MemberCount() == 0);
  }
}

TEST_CASE("RequestSigner/what sign returns is checked: SIG-001 for anything but string headers", "[service][sign]") {
  auto ok = ReadSignedHeaders(Parse(R"({"headers": {"Authorization": "AWS4 x", "x-amz-date": "d"}})"), "aws_sigv4");
  REQUIRE(ok.Ok());
  CHECK(ok.Value().size() == 2);
  for (const char* bad : {R"({"nope": 1})", R"([])", R"({"headers": "x"})", R"({"headers": {"a": 1}})",
                          R"({"headers": {"a": "x\r\nInjected: y"}})", R"({"headers": {"a": "x\u0000y"}})"}) {
    INFO(bad);
    auto r = ReadSignedHeaders(Parse(bad), "aws_sigv4");
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "SIG-001");
    CHECK(r.GetError().httpStatus == 500);
  }
}

TEST_CASE("StatusViews/token state, audit counters and error answers", "[service][status]") {
  SECTION("no state is 'none'; a state never carries a token, only its facts") {
    json::Writer w;
    views::WriteTokenState(w, nullptr, std::chrono::system_clock::now());
    CHECK(w.Take() == R"({"state":"none"})");

    token::TokenState st;
    st.status = token::TokenStatus::Valid;
    st.expiresAt = token::SystemTime(std::chrono::seconds(1767225600));  // 2026-01-01T00:00:00Z
    st.fetchSuccesses = 3;
    st.lastErrorCode = "AUTH-005";
    st.lastErrorMessage = "idp answered 503";
    json::Writer w2;
    views::WriteTokenState(w2, &st, token::SystemTime(std::chrono::seconds(1767225600 - 60)));
    const auto doc = Parse(w2.Take());
    CHECK(std::string(doc["expiresAt"].GetString()) == "2026-01-01T00:00:00Z");
    CHECK(doc["expiresInSeconds"].GetInt() == 60);
    CHECK(doc["fetchSuccesses"].GetUint() == 3);
    CHECK(std::string(doc["lastError"]["code"].GetString()) == "AUTH-005");
  }
  SECTION("audit counters are summed from the exported series") {
    MetricsRegistry m;
    m.GetCounter("dicomweb_oauth_audit_records_total", "", {{"type", "a"}}).Inc(2);
    m.GetCounter("dicomweb_oauth_audit_records_total", "", {{"type", "b"}}).Inc(3);
    m.GetCounter("dicomweb_oauth_audit_records_dropped_total", "", {{"reason", "rule"}}).Inc(4);
    m.GetCounter("dicomweb_oauth_audit_records_dropped_total", "", {{"reason", "queue_full"}}).Inc(5);
    m.GetCounter("dicomweb_oauth_audit_write_errors_total", "").Inc(6);
    const views::AuditCounters c = views::CountAudit(m);
    CHECK(c.records == 5);
    CHECK(c.droppedByRule == 4);
    CHECK(c.droppedQueueFull == 5);
    CHECK(c.writeErrors == 6);
    CHECK(c.ruleFailures == 0);
  }
  SECTION("an error answer has the error's status, 500 without one") {
    const JsonAnswer a = views::ErrorAnswer(MakeError("TOK-006", "unknown server 'x'", 404));
    CHECK(a.status == 404);
    CHECK(a.body == R"({"ok":false,"error":{"code":"TOK-006","message":"unknown server 'x'"}})");
    CHECK(views::ErrorAnswer(MakeError("X-001", "m", 0)).status == 500);
  }
  SECTION("a refused reload answers 422 with the snapshot that keeps serving") {
    const JsonAnswer a = views::ReloadAnswer(
        ReloadTrigger::Rest, Result<lua::SnapshotInfo>(MakeError("LUA-001", "x.lua:1: syntax")), Snapshot(7));
    CHECK(a.status == 422);
    const auto doc = Parse(a.body);
    CHECK(std::string(doc["trigger"].GetString()) == "rest");
    CHECK(doc["serving"]["version"].GetUint() == 7);
    CHECK(views::ReloadAnswer(ReloadTrigger::Rest, Result<lua::SnapshotInfo>(Snapshot(8)), Snapshot(8)).status == 200);
  }
}

TEST_CASE("StatusViews/servers: targets with observed health, never a secret", "[service][status]") {
  config::GatewayConfig cfg;
  config::ServerConfig& s = cfg.servers["fo"];
  s.url = "https://a.example/dicom-web/";
  s.targets = {{"primary", "https://a.example/dicom-web/"}, {"secondary", "https://b.example/dicom-web/"}};
  s.raw = Raw(R"({"ClientId": "orthanc", "ClientSecret": "views-secret-value"})");
  auto tracker = std::make_shared<policy::TargetHealth>(2, std::chrono::milliseconds(60000));
  tracker->ReportFailure(1);

  const JsonAnswer a = views::ServersAnswer(cfg, NoProvider, {}, [&](const std::string& name) {
    return name == "fo" ? tracker : nullptr;
  });
  CHECK(a.status == 200);
  CHECK(a.body.find("views-secret-value") == std::string::npos);
  const auto doc = Parse(a.body);
  const auto& fo = doc["servers"][0];
  CHECK(std::string(fo["clientId"].GetString()) == "orthanc");
  CHECK(fo["hasClientSecret"].GetBool());
  CHECK(fo["targets"][0]["healthy"].GetBool());
  CHECK_FALSE(fo["targets"][1]["healthy"].GetBool());
  CHECK(fo["targets"][1]["failures"].GetUint() == 1);
  CHECK(std::string(fo["token"]["state"].GetString()) == "none");

  const JsonAnswer without = views::ServersAnswer(cfg, NoProvider, {}, {});
  CHECK_FALSE(Parse(without.body)["servers"][0]["targets"][0].HasMember("healthy"));
}

TEST_CASE("GatewayBuilder/servers that differ only in data-path settings share one token identity", "[service]") {
  config::ServerConfig a, b, c;
  a.raw = Raw(R"({"Url": "https://a.example/", "TokenEndpoint": "https://idp/t", "ClientId": "x", "Timeout": 5})");
  b.raw = Raw(R"({"ClientId": "x", "TokenEndpoint": "https://idp/t", "Url": "https://b.example/", "HasDelete": true})");
  c.raw = Raw(R"({"Url": "https://a.example/", "TokenEndpoint": "https://idp/t", "ClientId": "y"})");
  CHECK(TokenIdentity(a) == TokenIdentity(b));
  CHECK(TokenIdentity(a) != TokenIdentity(c));
  CHECK(TokenIdentity(config::ServerConfig{}).empty());
}

TEST_CASE("StatusViews/the fields clients of the Python plugin read", "[service][status][compat]") {
  // orthanc-dicomweb-oauth answered status and servers inside {plugin_version, api_version,
  // timestamp, data}, and test with {server, status, token_acquired, has_token}: a probe or script
  // written for it must keep working, beside the gateway's own fields.
  const auto now = std::chrono::system_clock::now();
  config::GatewayConfig cfg;
  cfg.servers["held"].url = "https://a.example/dicom-web/";
  cfg.servers["held"].tokenEndpoint = "https://idp.example/token";
  cfg.servers["held"].raw = Raw(R"({"ClientId": "c", "ClientSecret": "compat-secret-value"})");
  cfg.servers["lapsed"].url = "https://b.example/dicom-web/";
  cfg.servers["never"].url = "https://c.example/dicom-web/";
  cfg.servers["signing"].url = "https://d.example/dicom-web/";  // a provider that only signs: no state
  std::map<std::string, token::TokenState> states;
  states["held"].status = token::TokenStatus::Valid;
  states["held"].expiresAt = now + std::chrono::minutes(30);
  states["lapsed"].status = token::TokenStatus::Expired;
  states["lapsed"].expiresAt = now - std::chrono::minutes(1);
  states["never"].status = token::TokenStatus::Error;

  SECTION("servers: data.servers with the Python plugin's five fields, the gateway's list unchanged") {
    const JsonAnswer a = views::ServersAnswer(cfg, NoProvider, states, {});
    CHECK(a.body.find("compat-secret-value") == std::string::npos);
    const auto doc = Parse(a.body);
    CHECK(std::string(doc["api_version"].GetString()) == "2.0");
    CHECK_FALSE(std::string(doc["plugin_version"].GetString()).empty());
    CHECK(std::string(doc["timestamp"].GetString()).size() == 20);  // YYYY-MM-DDTHH:MM:SSZ
    REQUIRE(doc["servers"].Size() == 4);
    const auto& list = doc["data"]["servers"];
    REQUIRE(list.Size() == 4);
    std::map<std::string, const rapidjson::Value*> by;
    for (const auto& s : list.GetArray()) by[s["name"].GetString()] = &s;
    CHECK(std::string((*by["held"])["url"].GetString()) == "https://a.example/dicom-web/");
    CHECK(std::string((*by["held"])["token_endpoint"].GetString()) == "https://idp.example/token");
    CHECK((*by["held"])["has_cached_token"].GetBool());
    CHECK((*by["held"])["token_valid"].GetBool());
    CHECK((*by["lapsed"])["has_cached_token"].GetBool());
    CHECK_FALSE((*by["lapsed"])["token_valid"].GetBool());
    CHECK_FALSE((*by["never"])["has_cached_token"].GetBool());
    CHECK_FALSE((*by["never"])["token_valid"].GetBool());
    CHECK((*by["never"])["token_endpoint"].IsNull());
    CHECK_FALSE((*by["signing"])["has_cached_token"].GetBool());
  }
  SECTION("status: data.status is 'healthy' only when the gateway says 'ok'") {
    std::map<std::string, token::TokenState> good{{"held", states["held"]}};
    auto doc = Parse(views::StatusAnswer(cfg, NoProvider, Snapshot(3), ReloadRecord{}, good, {}).body);
    CHECK(std::string(doc["status"].GetString()) == "ok");
    CHECK(std::string(doc["data"]["status"].GetString()) == "healthy");
    CHECK(doc["data"]["token_managers"].GetUint() == 1);
    CHECK(doc["data"]["servers_configured"].GetUint() == 4);
    CHECK(std::string(doc["api_version"].GetString()) == "2.0");
    CHECK(std::string(doc["plugin_version"].GetString()) == doc["plugin"]["version"].GetString());

    doc = Parse(views::StatusAnswer(cfg, NoProvider, Snapshot(3), ReloadRecord{}, states, {}).body);
    CHECK(std::string(doc["status"].GetString()) == "degraded");
    CHECK(std::string(doc["data"]["status"].GetString()) == "degraded");

    const JsonAnswer none = views::StatusAnswer(cfg, NoProvider, Snapshot(0), ReloadRecord{}, good, {});
    CHECK(none.status == 503);
    CHECK(std::string(Parse(none.body)["data"]["status"].GetString()) == "error");
  }
  SECTION("test: status 'success' with a token, 'error' with the gateway's error and status otherwise") {
    token::TokenRecord r;
    r.accessToken = "compat-access-token";
    r.tokenType = "Bearer";
    r.expiresAt = token::SystemClock::Instance()->SteadyNow() + std::chrono::minutes(5);
    const JsonAnswer ok = views::TestAnswer("held", r, 12);
    CHECK(ok.status == 200);
    CHECK(ok.body.find("compat-access-token") == std::string::npos);
    const auto doc = Parse(ok.body);
    CHECK(std::string(doc["status"].GetString()) == "success");
    CHECK(doc["token_acquired"].GetBool());
    CHECK(doc["has_token"].GetBool());
    CHECK(std::string(doc["server"].GetString()) == "held");
    CHECK(doc["ok"].GetBool());

    const JsonAnswer failed = views::TestFailureAnswer("held", MakeError("TOK-002", "the IdP refused", 503));
    CHECK(failed.status == 503);
    const auto f = Parse(failed.body);
    CHECK(std::string(f["status"].GetString()) == "error");
    CHECK(std::string(f["server"].GetString()) == "held");
    CHECK(std::string(f["error"]["code"].GetString()) == "TOK-002");
    CHECK_FALSE(f["ok"].GetBool());
  }
}
