// AuditLog with the real ScriptEngine: the shipped phi_redaction rule, rule failures (fail
// closed), dropping, pipelines, secret masking, the snapshot version, many threads.

#include <thread>

#include <catch2/catch.hpp>

#include "AuditTestSupport.h"
#include "gw/audit/AuditLog.h"
#include "gw/audit/AuditVerifier.h"
#include "gw/common/SecretRegistry.h"
#include "gw/crypto/Encoding.h"
#include "gw/crypto/Hash.h"

using namespace gw;
using namespace gw::audit;
using namespace gw::audit::test;
using namespace std::chrono_literals;

namespace {

const std::string kHashKey = "unit-audit-hash-key-5c2e9b";

// An audit rule whose record(event) runs `body`.
std::string Rule(const std::string& name, const std::string& body) {
  return "local M = { name = \"" + name + "\", version = \"1\", kind = \"audit\" }\n"
         "function M.record(event)\n" + body + "\nend\nreturn M\n";
}

// A script engine over the shipped rules plus the scripts written into `extra`.
struct Rig {
  TempDir dir;
  TempDir extra;
  std::unique_ptr<lua::ScriptEngine> engine;
  std::shared_ptr<MetricsRegistry> metrics = std::make_shared<MetricsRegistry>();
  std::shared_ptr<AuditLog> log;
  config::AuditConfig config;

  Rig() {
    config.enabled = true;
    config.file = dir / "audit.jsonl";
    config.hashKey = kHashKey;
    config.fsyncIntervalMs = 0;
  }
  void Start(const std::vector<std::string>& rules = {"phi_redaction"}) {
    config.rules = rules;
    lua::EngineOptions options;
    options.scriptDirs = {std::string(GW_SOURCE_DIR) + "/lua/policies/audit", extra.Path()};
    options.defaultBudget = 2000ms;
    options.maxStatesPerSnapshot = 4;
    engine = std::make_unique<lua::ScriptEngine>(options);
    auto loaded = engine->Reload();
    INFO((loaded.Ok() ? "" : loaded.GetError().ToString()));
    REQUIRE(loaded.Ok());
    auto opened = AuditLog::Open(config, *engine, metrics);
    INFO((opened.Ok() ? "" : opened.GetError().ToString()));
    REQUIRE(opened.Ok());
    log = opened.Value();
  }
  std::vector<std::string> Lines() {
    REQUIRE(log->Flush(10s));
    return SplitLines(ReadAll(config.file));
  }
  ~Rig() {
    if (log) log->Stop();
  }
};

AuditEvent QidoEvent(const std::string& patientName, const std::string& patientId) {
  AuditEvent e("proxy.request", "cloud");
  e.Set("method", "GET").Set("path", "studies").Set("status", int64_t{200}).Set("outcome", "forwarded");
  e.SetQuery("query", {{"PatientName", patientName}, {"00100020", patientId}, {"limit", "10"}});
  return e;
}

std::string Pseudonym(const std::string& value) {
  return "hmac-sha256:" + crypto::HexEncode(crypto::HmacSha256(kHashKey, value));
}

}  // namespace

TEST_CASE("AuditLog/the shipped rule replaces patient names and IDs by keyed pseudonyms", "[audit]") {
  Rig rig;
  rig.Start();
  rig.log->Record(QidoEvent("DOE^JOHN", "PID-778899"));
  rig.log->Record(QidoEvent("ROE^JANE", "PID-778899"));
  AuditEvent byKeyword("proxy.request", "cloud");
  byKeyword.SetQuery("query", {{"PatientID", "PID-778899"}, {"StudyDate", "20260101"}});
  rig.log->Record(std::move(byKeyword));
  const auto lines = rig.Lines();
  REQUIRE(lines.size() == 3);
  for (const auto& line : lines) {
    INFO(line);
    CHECK(line.find("DOE^JOHN") == std::string::npos);
    CHECK(line.find("ROE^JANE") == std::string::npos);
    CHECK(line.find("778899") == std::string::npos);
    CHECK(line.find(kHashKey) == std::string::npos);
  }
  const auto first = ParseLine(lines[0]);
  const auto& q = first["fields"]["query"];
  REQUIRE(q.IsArray());
  CHECK(std::string(q[0]["name"].GetString()) == "PatientName");
  CHECK(std::string(q[0]["value"].GetString()) == Pseudonym("DOE^JOHN"));
  CHECK(std::string(q[1]["value"].GetString()) == Pseudonym("PID-778899"));
  CHECK(std::string(q[2]["value"].GetString()) == "10");  // not PHI: kept
  CHECK(std::string(first["fields"]["path"].GetString()) == "studies");
  CHECK(std::string(first["event"].GetString()) == "proxy.request");
  CHECK(std::string(first["server"].GetString()) == "cloud");
  CHECK(first["snapshot"].GetUint64() == rig.engine->CurrentInfo().version);
  // The same ID gives the same pseudonym, under its tag or its keyword: records can be correlated.
  CHECK(std::string(ParseLine(lines[1])["fields"]["query"][1]["value"].GetString()) == Pseudonym("PID-778899"));
  CHECK(std::string(ParseLine(lines[2])["fields"]["query"][0]["value"].GetString()) == Pseudonym("PID-778899"));
  CHECK(std::string(ParseLine(lines[2])["fields"]["query"][1]["value"].GetString()) == "20260101");
  CHECK(VerifyFile(rig.config.file).ok);
}

TEST_CASE("AuditLog/without a hash key the shipped rule redacts", "[audit]") {
  Rig rig;
  rig.config.hashKey.clear();
  rig.Start();
  rig.log->Record(QidoEvent("DOE^JOHN", "PID-778899"));
  const auto lines = rig.Lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("DOE^JOHN") == std::string::npos);
  CHECK(std::string(ParseLine(lines[0])["fields"]["query"][0]["value"].GetString()) == "[redacted]");
}

TEST_CASE("AuditLog/a failing rule fails closed: the event is written without its fields", "[audit]") {
  Rig rig;
  SECTION("the rule raises an error that quotes the PHI") {
    rig.extra.Write("broken.lua", Rule("broken", "error('cannot handle ' .. event.fields.query[1].value)"));
    rig.Start({"broken"});
    rig.log->Record(QidoEvent("DOE^JOHN", "PID-778899"));
    const auto lines = rig.Lines();
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("DOE^JOHN") == std::string::npos);
    const auto r = ParseLine(lines[0]);
    CHECK(r["fields"].ObjectEmpty());
    CHECK(std::string(r["ruleError"]["rule"].GetString()) == "broken");
    CHECK(std::string(r["ruleError"]["code"].GetString()) == "LUA-006");
    CHECK(std::string(r["event"].GetString()) == "proxy.request");
    CHECK(rig.metrics->GetCounter("dicomweb_oauth_audit_rule_failures_total", "", {{"rule", "broken"}}).Value() == 1);
  }
  SECTION("the rule returns something that is not a table") {
    rig.extra.Write("number.lua", Rule("number", "return 42"));
    rig.Start({"number"});
    rig.log->Record(QidoEvent("DOE^JOHN", "PID-778899"));
    const auto r = ParseLine(rig.Lines().at(0));
    CHECK(r["fields"].ObjectEmpty());
    CHECK(std::string(r["ruleError"]["code"].GetString()) == "AUD-006");
  }
  SECTION("the rule runs past its time budget") {
    rig.extra.Write("slow.lua", Rule("slow", "while true do end"));
    rig.config.ruleTimeoutMs = 50;
    rig.Start({"slow"});
    rig.log->Record(QidoEvent("DOE^JOHN", "PID-778899"));
    const auto r = ParseLine(rig.Lines().at(0));
    CHECK(std::string(r["ruleError"]["code"].GetString()) == "LUA-004");
  }
  SECTION("the rule is missing from the snapshot") {
    rig.Start({"no_such_rule"});
    rig.log->Record(QidoEvent("DOE^JOHN", "PID-778899"));
    const auto r = ParseLine(rig.Lines().at(0));
    CHECK(std::string(r["ruleError"]["code"].GetString()) == "LUA-007");
  }
  CHECK(VerifyFile(rig.config.file).ok);
}

TEST_CASE("AuditLog/a rule returning false drops the event, and it is counted", "[audit]") {
  Rig rig;
  rig.extra.Write("only_denials.lua",
                  Rule("only_denials", "if event.fields.outcome == 'forwarded' then return false end\n"
                                       "return event.fields"));
  rig.Start({"only_denials", "phi_redaction"});
  rig.log->Record(QidoEvent("DOE^JOHN", "PID-778899"));
  AuditEvent denied("proxy.request", "cloud");
  denied.Set("outcome", "denied").Set("code", "AUTH-403");
  denied.SetQuery("query", {{"PatientID", "PID-1"}});
  rig.log->Record(std::move(denied));
  const auto lines = rig.Lines();
  REQUIRE(lines.size() == 1);
  const auto r = ParseLine(lines[0]);
  CHECK(std::string(r["fields"]["code"].GetString()) == "AUTH-403");
  // The second rule saw the first one's output: the ID is still pseudonymised.
  CHECK(std::string(r["fields"]["query"][0]["value"].GetString()) == Pseudonym("PID-1"));
  CHECK(rig.metrics->GetCounter("dicomweb_oauth_audit_records_dropped_total", "", {{"reason", "rule"}}).Value() == 1);
}

TEST_CASE("AuditLog/registered secrets are masked even if a rule writes them", "[audit]") {
  Rig rig;
  SecretRegistry::Add(kHashKey);
  rig.extra.Write("leaky.lua", Rule("leaky", "local f = event.fields\nf.oops = 'key=' .. event.hash_key\nreturn f"));
  rig.Start({"leaky"});
  rig.log->Record(AuditEvent("config.loaded"));
  const auto lines = rig.Lines();
  SecretRegistry::Remove(kHashKey);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find(kHashKey) == std::string::npos);
  CHECK(std::string(ParseLine(lines[0])["fields"]["oops"].GetString()) == "key=***");
}

TEST_CASE("AuditLog/invalid UTF-8 in a field becomes U+FFFD, the line stays valid", "[audit]") {
  Rig rig;
  rig.Start({});
  AuditEvent e("proxy.request", "cloud");
  e.Set("path", std::string("studies/\xff\xfe/x"));
  rig.log->Record(std::move(e));
  const auto lines = rig.Lines();
  REQUIRE(lines.size() == 1);
  CHECK(std::string(ParseLine(lines[0])["fields"]["path"].GetString()) == "studies/\xEF\xBF\xBD\xEF\xBF\xBD/x");
  CHECK(VerifyFile(rig.config.file).ok);
}

TEST_CASE("AuditLog/every record carries the snapshot version serving at that time", "[audit]") {
  Rig rig;
  rig.Start({});
  rig.log->Record(AuditEvent("script.published"));
  rig.extra.Write("new_rule.lua", Rule("new_rule", "return event.fields"));
  REQUIRE(rig.engine->Reload().Ok());
  rig.log->Record(AuditEvent("script.published"));
  const auto lines = rig.Lines();
  REQUIRE(lines.size() == 2);
  CHECK(ParseLine(lines[1])["snapshot"].GetUint64() == ParseLine(lines[0])["snapshot"].GetUint64() + 1);
}

TEST_CASE("AuditLog/many threads recording through the rule: nothing lost, chain intact", "[audit]") {
  Rig rig;
  rig.Start();
  constexpr int kThreads = 8;
  constexpr int kEach = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&rig, t] {
      for (int i = 0; i < kEach; ++i) rig.log->Record(QidoEvent("T" + std::to_string(t), std::to_string(i)));
    });
  }
  for (auto& th : threads) th.join();
  const auto lines = rig.Lines();
  CHECK(lines.size() == static_cast<size_t>(kThreads * kEach));
  CHECK(rig.metrics->GetCounter("dicomweb_oauth_audit_records_total", "").Value() == kThreads * kEach);
  const VerifyReport r = VerifyFile(rig.config.file);
  INFO(r.problem);
  CHECK(r.ok);
}

TEST_CASE("AuditLog/CheckAuditRules names missing rules and rules of another kind", "[audit]") {
  config::AuditConfig c;
  c.enabled = true;
  c.rules = {"phi_redaction", "missing_rule", "client_credentials"};
  const auto problems = CheckAuditRules(c, {{"phi_redaction", "audit"}, {"client_credentials", "provider"}});
  REQUIRE(problems.size() == 2);
  CHECK(problems[0].find("`missing_rule` is not among the checked scripts") != std::string::npos);
  CHECK(problems[1].find("kind `provider`, not `audit`") != std::string::npos);
  c.enabled = false;
  CHECK(CheckAuditRules(c, {}).empty());
}

TEST_CASE("AuditLog/the shipped rule gives a percent-encoded value the pseudonym of the decoded one", "[audit]") {
  // Orthanc's DICOMweb client sends PatientName=DOE%5EJOHN for DOE^JOHN (seen in proxy mode).
  Rig rig;
  rig.Start();
  rig.log->Record(QidoEvent("DOE%5EJOHN", "PID%2D1"));
  const auto r = ParseLine(rig.Lines().at(0));
  CHECK(std::string(r["fields"]["query"][0]["value"].GetString()) == Pseudonym("DOE^JOHN"));
  CHECK(std::string(r["fields"]["query"][1]["value"].GetString()) == Pseudonym("PID-1"));
}

TEST_CASE("AuditLog/FailClosed: not accepting while records cannot be written or are dropped", "[audit]") {
  // A real write failure (RLIMIT_FSIZE, SIGXFSZ ignored), as in the AuditFileWriter test.
  Rig rig;
  rig.config.failClosed = true;
  rig.config.queueCapacity = 1;
  rig.config.queueTimeoutMs = 0;
  rig.Start({});
  rig.log->Record(AuditEvent("before"));
  REQUIRE(rig.log->Flush(5s));
  CHECK(rig.log->Accepting());
  const uint64_t size = ReadAll(rig.config.file).size();

  FileSizeLimit limit(size + 10);

  rig.log->Record(AuditEvent("stuck.in.writer"));
  for (int i = 0; i < 200 && rig.log->Writer().Healthy(); ++i) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(rig.log->Accepting());
  for (int i = 0; i < 5; ++i) rig.log->Record(AuditEvent("overflow"));  // queue of 1: some are dropped
  const uint64_t dropped =
      rig.metrics->GetCounter("dicomweb_oauth_audit_records_dropped_total", "", {{"reason", "queue_full"}}).Value();
  CHECK(dropped >= 4);
  CHECK(rig.metrics->GetCounter("dicomweb_oauth_audit_write_errors_total", "").Value() >= 1);

  limit.Lift();
  REQUIRE(rig.log->Flush(5s));
  CHECK(rig.log->Accepting());
  const auto lines = rig.Lines();
  CHECK(lines.size() == 2 + (5 - dropped));
  CHECK(VerifyFile(rig.config.file).ok);
}

TEST_CASE("AuditLog/the trace id is a gateway member that rules cannot remove and the chain seals", "[audit]") {
  Rig rig;
  // A rule that replaces every field: the trace id must survive it, outside `fields`.
  rig.extra.Write("wipe.lua", Rule("wipe", "return {}"));
  rig.Start({"wipe"});
  AuditEvent e = QidoEvent("Doe^Jane", "PID-1");
  e.traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  rig.log->Record(std::move(e));
  rig.log->Record(AuditEvent("config.loaded"));  // no trace: no member
  auto lines = rig.Lines();
  REQUIRE(lines.size() == 2);
  const auto first = ParseLine(lines[0]);
  REQUIRE(first.HasMember("traceId"));
  CHECK(std::string(first["traceId"].GetString()) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(first["fields"].ObjectEmpty());
  CHECK_FALSE(ParseLine(lines[1]).HasMember("traceId"));
  REQUIRE(VerifyFile(rig.config.file).ok);
  // Editing the trace id is an edit of the record: verification fails.
  const size_t at = lines[0].find("4bf92f35");
  REQUIRE(at != std::string::npos);
  lines[0].replace(at, 8, "00000001");
  WriteAll(rig.config.file, JoinLines(lines));
  CHECK_FALSE(VerifyFile(rig.config.file).ok);
}

TEST_CASE("AuditLog/the queue depth gauge is sampled at scrape time", "[audit]") {
  Rig rig;
  rig.config.queueCapacity = 321;
  rig.Start({});
  const std::string text = rig.metrics->RenderPrometheus();
  CHECK(text.find("dicomweb_oauth_audit_queue_depth 0\n") != std::string::npos);
  CHECK(text.find("dicomweb_oauth_audit_queue_capacity 321\n") != std::string::npos);
  // The hook is gone with the AuditLog: a scrape afterwards must not touch it.
  rig.log->Stop();
  rig.log.reset();
  CHECK(rig.metrics->RenderPrometheus().find("dicomweb_oauth_audit_queue_depth") != std::string::npos);
}
