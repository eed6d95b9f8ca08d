// The proxy route's logic, without Orthanc: admission order, routing with failover and target
// health, policy header edits, the audit record and the request body path (gw/proxy/ProxyService.h).
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "FakeCredentials.h"
#include "FakeProxyAnswer.h"
#include "gw/common/Metrics.h"
#include "gw/proxy/HeaderPolicy.h"
#include "gw/proxy/ProxyService.h"
#include "gw/proxy/RequestAudit.h"

using gw::proxy::Incoming;
using gw::proxy::ProxyService;
using gw::test::FakeProxyAnswer;
using gw::test::FakeUpstream;
using gw::test::RecordingAuditSink;

namespace {

constexpr const char* kPrimary = "https://primary.example/dicomweb/";
constexpr const char* kBackup = "https://backup.example/dicomweb/";

gw::config::ServerConfig ProxyServer(const std::string& name) {
  gw::config::ServerConfig s;
  s.name = name;
  s.url = kPrimary;
  s.mode = gw::config::ServerMode::Proxy;
  s.targets = {{"primary", kPrimary}};
  return s;
}

gw::config::GatewayConfig OneServer(gw::config::ServerConfig s = ProxyServer("cloud")) {
  gw::config::GatewayConfig c;
  c.servers.emplace(s.name, std::move(s));
  return c;
}

// A server with a primary and a backup target routed by a policy that picks the first healthy one.
gw::config::GatewayConfig TwoTargets() {
  auto s = ProxyServer("cloud");
  s.targets = {{"primary", kPrimary}, {"backup", kBackup}};
  s.policies = {"first-healthy"};
  return OneServer(std::move(s));
}

gw::policy::Decision FirstHealthy(const std::vector<std::string>& names, const gw::policy::PolicyRequest& r) {
  gw::policy::Decision d;
  d.allow = true;
  d.status = 200;
  d.policies = names;
  for (const auto& t : r.targets) {
    if (t.healthy) {
      d.target = std::string(t.name);
      break;
    }
  }
  return d;
}

struct Fixture {
  FakeUpstream upstream;
  std::shared_ptr<gw::test::FakeCredentials> credentials = std::make_shared<gw::test::FakeCredentials>();
  std::shared_ptr<RecordingAuditSink> audit = std::make_shared<RecordingAuditSink>();
  std::shared_ptr<ProxyService> service;

  explicit Fixture(const gw::config::GatewayConfig& config,
                   std::function<gw::policy::Decision(const std::vector<std::string>&, const gw::policy::PolicyRequest&)>
                       decide = {}) {
    gw::proxy::ProxyDependencies deps;
    deps.credentials = credentials;
    deps.decide = std::move(decide);
    deps.forward = upstream.Forward();
    auto created = ProxyService::Create(config, std::move(deps));
    REQUIRE(created.Ok());
    service = created.Value();
    service->SetAudit(audit);
  }

  std::string Secret(const std::string& server = "cloud") const {
    return service->Definitions().at(server).httpHeaders.at(gw::proxy::kLoopbackSecretHeader);
  }

  // A request as Orthanc's DICOMweb client sends it: with the loopback secret.
  Incoming Request(const std::string& method, const std::string& tail, gw::http::Headers extra = {},
                   const std::vector<std::pair<std::string, std::string>>& arguments = {},
                   const std::string& server = "cloud") const {
    gw::http::Headers headers{{"x-dicomweb-oauth-gateway", Secret()}, {"accept", "application/dicom+json"}};
    headers.insert(headers.end(), extra.begin(), extra.end());
    return Incoming::Describe(method, server, tail, std::move(headers), arguments);
  }
};

bool HasHeader(const gw::http::Headers& headers, const std::string& lowerName) {
  for (const auto& [k, v] : headers) {
    std::string lower = k;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == lowerName) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("ProxyService: a request without the loopback secret is refused before the server is looked up") {
  Fixture f(OneServer());
  FakeProxyAnswer out;
  // An unknown server without the secret: 403, not 404 (nothing about the servers is revealed).
  auto in = Incoming::Describe("GET", "no-such-server", "studies", {}, {});
  CHECK(f.service->Serve(in, out) == gw::proxy::AnswerWriter::Outcome::Complete);
  REQUIRE(out.error);
  CHECK(out.error->code == "PXY-006");
  CHECK(out.error->httpStatus == 403);

  FakeProxyAnswer wrong;
  f.service->Serve(Incoming::Describe("GET", "cloud", "studies", {{"x-dicomweb-oauth-gateway", "guess"}}, {}), wrong);
  REQUIRE(wrong.error);
  CHECK(wrong.error->code == "PXY-006");

  // With a secret, an unknown server is a 404.
  FakeProxyAnswer unknown;
  f.service->Serve(f.Request("GET", "studies", {}, {}, "no-such-server"), unknown);
  REQUIRE(unknown.error);
  CHECK(unknown.error->code == "PXY-002");
  CHECK(unknown.error->httpStatus == 404);
  CHECK(f.upstream.seen.empty());
  // Every refusal is audited as denied.
  REQUIRE(f.audit->events.size() == 3);
  CHECK(RecordingAuditSink::Text(f.audit->events[0]).find("\"outcome\":\"denied\"") != std::string::npos);
}

TEST_CASE("ProxyService: a method override is refused with 400") {
  Fixture f(OneServer());
  FakeProxyAnswer header;
  f.service->Serve(f.Request("DELETE", "studies/1.2.3", {{"x-http-method-override", "DELETE"}}), header);
  REQUIRE(header.error);
  CHECK(header.error->httpStatus == 400);

  FakeProxyAnswer argument;
  f.service->Serve(f.Request("DELETE", "studies/1.2.3", {}, {{"_method", "delete"}}), argument);
  REQUIRE(argument.error);
  CHECK(argument.error->httpStatus == 400);
  CHECK(argument.error->code == header.error->code);

  // PUT only comes from an override (Orthanc's DICOMweb client never sends it).
  auto put = gw::proxy::BodyExchange::Open(f.service, f.Request("PUT", "studies"));
  FakeProxyAnswer putOut;
  put->AddChunk("ignored");
  put->Execute(putOut);
  REQUIRE(putOut.error);
  CHECK(putOut.error->httpStatus == 400);
  CHECK(f.upstream.seen.empty());
}

TEST_CASE("ProxyService: with a fail-closed audit trail that cannot be written requests get 503 AUD-005") {
  Fixture f(OneServer());
  f.audit->accepting = false;
  FakeProxyAnswer out;
  f.service->Serve(f.Request("GET", "studies"), out);
  REQUIRE(out.error);
  CHECK(out.error->code == "AUD-005");
  CHECK(out.error->httpStatus == 503);
  CHECK(f.upstream.seen.empty());
  // The loopback secret still comes first.
  FakeProxyAnswer anonymous;
  f.service->Serve(Incoming::Describe("GET", "cloud", "studies", {}, {}), anonymous);
  REQUIRE(anonymous.error);
  CHECK(anonymous.error->code == "PXY-006");
}

TEST_CASE("ProxyService: a routing policy's denial is answered with its status and code and audited") {
  auto s = ProxyServer("cloud");
  s.policies = {"allow-qido", "deny-delete"};
  Fixture f(OneServer(std::move(s)), [](const std::vector<std::string>& names, const gw::policy::PolicyRequest& r) {
    gw::policy::Decision d;
    d.policies = names;
    if (r.method == "DELETE") {
      d.allow = false;
      d.status = 403;
      d.code = "POL-403";
      d.reason = "deletes are not allowed";
      d.policy = "deny-delete";
    } else {
      d.allow = true;
      d.status = 200;
    }
    return d;
  });
  FakeProxyAnswer out;
  f.service->Serve(f.Request("DELETE", "studies/1.2.3"), out);
  REQUIRE(out.error);
  CHECK(out.error->code == "POL-403");
  CHECK(out.error->httpStatus == 403);
  CHECK(f.upstream.seen.empty());
  REQUIRE(f.audit->events.size() == 1);
  const std::string text = RecordingAuditSink::Text(f.audit->events[0]);
  CHECK(text.find("\"policy\":\"deny-delete\"") != std::string::npos);
  CHECK(text.find("\"code\":\"POL-403\"") != std::string::npos);
  CHECK(text.find("\"target\"") == std::string::npos);  // nothing went upstream

  FakeProxyAnswer allowed;
  f.service->Serve(f.Request("GET", "studies"), allowed);
  CHECK(allowed.status == 200);
  CHECK(f.upstream.seen.size() == 1);
}

TEST_CASE("ProxyService: policies without a policy engine fail closed with POL-002") {
  auto s = ProxyServer("cloud");
  s.policies = {"anything"};
  Fixture f(OneServer(std::move(s)));
  FakeProxyAnswer out;
  f.service->Serve(f.Request("GET", "studies"), out);
  REQUIRE(out.error);
  CHECK(out.error->code == "POL-002");
  CHECK(f.upstream.seen.empty());
}

TEST_CASE("ProxyService: over the rate limit a request gets PXY-015 with Retry-After and is not sent") {
  auto config = OneServer();
  config.global.rateLimitRequests = 1;
  config.global.rateLimitWindowSeconds = 60;
  Fixture f(config);
  FakeProxyAnswer first;
  f.service->Serve(f.Request("GET", "studies"), first);
  CHECK(first.status == 200);
  FakeProxyAnswer second;
  f.service->Serve(f.Request("GET", "studies"), second);
  REQUIRE(second.error);
  CHECK(second.error->code == "PXY-015");
  CHECK(second.refused);
  CHECK(second.retryAfter.count() >= 1);
  CHECK(second.retryAfter.count() <= 60);
  CHECK(f.upstream.seen.size() == 1);
  // A refusal before the limit (no secret) takes no pass and carries no Retry-After.
  FakeProxyAnswer anonymous;
  f.service->Serve(Incoming::Describe("GET", "cloud", "studies", {}, {}), anonymous);
  CHECK(anonymous.retryAfter.count() == 0);
}

TEST_CASE("ProxyService: an unreachable target is marked unhealthy and the request fails over to the next") {
  Fixture f(TwoTargets(), FirstHealthy);
  f.upstream.answer = [](const FakeUpstream::Seen& s) -> gw::Result<long> {
    if (s.url.rfind(kPrimary, 0) == 0) return gw::MakeError("PXY-003", "upstream unreachable (NET-001): refused", 502);
    return 200L;
  };
  FakeProxyAnswer out;
  CHECK(f.service->Serve(f.Request("GET", "studies"), out) == gw::proxy::AnswerWriter::Outcome::Complete);
  CHECK(out.status == 200);
  REQUIRE(f.upstream.seen.size() == 2);
  CHECK(f.upstream.seen[0].url.rfind(kPrimary, 0) == 0);
  CHECK(f.upstream.seen[1].url.rfind(kBackup, 0) == 0);
  auto health = f.service->TargetHealth("cloud");
  REQUIRE(health);
  CHECK_FALSE(health->Healthy(0));
  CHECK(health->Healthy(1));
  CHECK(health->Failures(0) == 1);
  REQUIRE(f.audit->events.size() == 1);
  const std::string text = RecordingAuditSink::Text(f.audit->events[0]);
  CHECK(text.find("\"target\":\"backup\"") != std::string::npos);
  CHECK(text.find("\"outcome\":\"forwarded\"") != std::string::npos);

  // The next request goes to the backup at once (the primary is in its cooldown).
  FakeProxyAnswer next;
  f.service->Serve(f.Request("GET", "studies"), next);
  REQUIRE(f.upstream.seen.size() == 3);
  CHECK(f.upstream.seen[2].url.rfind(kBackup, 0) == 0);
}

TEST_CASE("ProxyService: a 5xx answer marks its target unhealthy and is passed on without failover") {
  Fixture f(TwoTargets(), FirstHealthy);
  f.upstream.answer = [](const FakeUpstream::Seen&) -> gw::Result<long> { return 503L; };
  FakeProxyAnswer out;
  f.service->Serve(f.Request("GET", "studies"), out);
  CHECK(out.status == 503);
  CHECK(f.upstream.seen.size() == 1);  // an answer is an answer: only transport failures fail over
  CHECK_FALSE(f.service->TargetHealth("cloud")->Healthy(0));
}

TEST_CASE("ProxyService: without another target an unreachable upstream is answered 502 PXY-003") {
  Fixture f(OneServer());
  f.upstream.answer = [](const FakeUpstream::Seen&) -> gw::Result<long> {
    return gw::MakeError("PXY-003", "upstream unreachable (NET-001): refused", 502);
  };
  FakeProxyAnswer out;
  f.service->Serve(f.Request("GET", "studies"), out);
  REQUIRE(out.error);
  CHECK(out.error->code == "PXY-003");
  CHECK(f.upstream.seen.size() == 1);
  REQUIRE(f.audit->events.size() == 1);
  CHECK(RecordingAuditSink::Text(f.audit->events[0]).find("\"outcome\":\"failed\"") != std::string::npos);
}

TEST_CASE("ProxyService: policy header edits cannot touch the headers the gateway owns") {
  auto s = ProxyServer("cloud");
  s.policies = {"edits"};
  Fixture f(OneServer(std::move(s)), [](const std::vector<std::string>& names, const gw::policy::PolicyRequest&) {
    gw::policy::Decision d;
    d.allow = true;
    d.status = 200;
    d.policies = names;
    d.setHeaders = {{"Authorization", "Bearer stolen"},
                    {"X-DicomWeb-OAuth-Gateway", "forged"},
                    {"Host", "evil.example"},
                    {"Content-Length", "0"},
                    {"traceparent", "00-11111111111111111111111111111111-2222222222222222-01"},
                    {"X-Tenant", "radiology"}};
    d.removeHeaders = {"accept"};
    return d;
  });
  FakeProxyAnswer out;
  const Incoming in = f.Request("GET", "studies", {{"authorization", "Basic b3J0aGFuYzpwdw=="}});
  f.service->Serve(in, out);
  REQUIRE(f.upstream.seen.size() == 1);
  const auto& sent = f.upstream.seen[0].headers;
  CHECK_FALSE(HasHeader(sent, "authorization"));
  CHECK_FALSE(HasHeader(sent, "x-dicomweb-oauth-gateway"));
  CHECK_FALSE(HasHeader(sent, "host"));
  CHECK_FALSE(HasHeader(sent, "content-length"));
  CHECK_FALSE(HasHeader(sent, "accept"));
  CHECK(HasHeader(sent, "x-tenant"));
  size_t traceparents = 0;
  for (const auto& [k, v] : sent) {
    if (k == "traceparent") {
      ++traceparents;
      CHECK(v == in.trace.Header());  // the gateway's span, not the policy's
    }
  }
  CHECK(traceparents == 1);
}

TEST_CASE("ProxyService: the audit record holds no header value and no secret") {
  Fixture f(OneServer());
  FakeProxyAnswer out;
  const Incoming in = f.Request("GET", "studies",
                                {{"authorization", "Basic c2VjcmV0LXVzZXI6c2VjcmV0LXB3"}, {"cookie", "session=cookie-value"}},
                                {{"PatientID", "PAT%2D42"}});
  f.service->Serve(in, out);
  REQUIRE(f.audit->events.size() == 1);
  const auto& event = f.audit->events[0];
  CHECK(event.type == "proxy.request");
  CHECK(event.server == "cloud");
  CHECK(event.traceId == in.trace.traceId);
  const std::string text = RecordingAuditSink::Text(event);
  CHECK(text.find("\"method\":\"GET\"") != std::string::npos);
  CHECK(text.find("\"path\":\"studies\"") != std::string::npos);
  // The query, decoded once: the audit rules pseudonymise it before it is written (docs/audit.md).
  CHECK(text.find("\"name\":\"PatientID\",\"value\":\"PAT-42\"") != std::string::npos);
  CHECK(text.find("\"status\":200") != std::string::npos);
  CHECK(text.find("\"target\":\"primary\"") != std::string::npos);
  CHECK(text.find(f.Secret()) == std::string::npos);
  CHECK(text.find("c2VjcmV0LXVzZXI6c2VjcmV0LXB3") == std::string::npos);
  CHECK(text.find("cookie-value") == std::string::npos);
  CHECK(text.find("application/dicom+json") == std::string::npos);  // the Accept value
}

TEST_CASE("ProxyService: a refusal's audit record carries the code and reason, no decision target") {
  gw::proxy::Admission routed;
  routed.targetName = "primary";
  routed.decision.allow = true;
  routed.decision.reason = "business hours";
  const Incoming in = Incoming::Describe("GET", "cloud", "studies", {}, {});
  const gw::Error e = gw::MakeError("PXY-015", "rate limited", 503);
  gw::proxy::RequestEnd end;
  end.outcome = "denied";
  end.status = 503;
  end.error = &e;
  end.routed = &routed;
  const std::string text = RecordingAuditSink::Text(gw::proxy::BuildRequestAudit(in, end));
  CHECK(text.find("\"code\":\"PXY-015\"") != std::string::npos);
  CHECK(text.find("\"reason\":\"rate limited\"") != std::string::npos);
  CHECK(text.find("\"target\"") == std::string::npos);
  CHECK(text.find("policyReason") == std::string::npos);
  end.outcome = "forwarded";
  end.error = nullptr;
  const std::string forwarded = RecordingAuditSink::Text(gw::proxy::BuildRequestAudit(in, end));
  CHECK(forwarded.find("\"policyReason\":\"business hours\"") != std::string::npos);
}

TEST_CASE("ProxyService: GET arguments are decoded once and a method override is named from the raw ones") {
  const Incoming get = Incoming::Describe("GET", "cloud", "studies", {}, {{"Modality", "%2A"}, {"PatientName", "Doe%5EJ+x"}});
  REQUIRE(get.query.size() == 2);
  CHECK(get.query[0].second == "*");
  CHECK(get.query[1].second == "Doe^J+x");
  CHECK_FALSE(get.methodOverride);
  const Incoming del = Incoming::Describe("DELETE", "cloud", "studies", {}, {{"%5Fmethod", "delete"}});
  CHECK(del.methodOverride);
  CHECK(del.query.empty());  // only a GET's arguments go upstream
  const Incoming traced = Incoming::Describe(
      "GET", "cloud", "studies", {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}, {});
  CHECK(traced.traceContinued);
  CHECK(traced.trace.traceId == "0af7651916cd43dd8448eb211c80319c");
  CHECK(traced.trace.parentId != "b7ad6b7169203331");
}

TEST_CASE("ProxyService: a request body streams to the upstream and the answer comes back in Execute") {
  Fixture f(OneServer());
  auto exchange = gw::proxy::BodyExchange::Open(f.service, f.Request("POST", "studies", {{"content-type", "application/dicom"}}));
  exchange->AddChunk("first piece,");
  exchange->AddChunk("second piece");
  FakeProxyAnswer out;
  CHECK(exchange->Execute(out) == gw::proxy::AnswerWriter::Outcome::Complete);
  CHECK(out.status == 200);
  CHECK(out.body == "{\"got\":24}");
  REQUIRE(f.upstream.seen.size() == 1);
  CHECK(f.upstream.seen[0].body == "first piece,second piece");
  CHECK(f.upstream.seen[0].method == "POST");
  REQUIRE(f.audit->events.size() == 1);
}

TEST_CASE("ProxyService: a body exchange abandoned before Execute stops its worker") {
  Fixture f(OneServer());
  {
    auto exchange = gw::proxy::BodyExchange::Open(f.service, f.Request("POST", "studies"));
    exchange->AddChunk("partial");
  }  // destroyed without Execute: must not hang or crash
  SUCCEED("the exchange was released");
}

TEST_CASE("ProxyService: without a running service a body request is refused with 503 PXY-002") {
  auto exchange = gw::proxy::BodyExchange::Open(nullptr, Incoming::Describe("POST", "cloud", "studies", {}, {}));
  exchange->AddChunk("dropped");
  FakeProxyAnswer out;
  exchange->Execute(out);
  REQUIRE(out.error);
  CHECK(out.error->code == "PXY-002");
  CHECK(out.error->httpStatus == 503);
}

TEST_CASE("ProxyService: Detach stops auditing") {
  Fixture f(OneServer());
  f.service->Detach();
  FakeProxyAnswer out;
  f.service->Serve(f.Request("GET", "studies"), out);
  CHECK(out.status == 200);
  CHECK(f.audit->events.empty());
}

TEST_CASE("ProxyService: body bytes are counted per server and direction, refused bodies not at all") {
  gw::MetricsRegistry registry;
  Fixture f(OneServer());
  f.service->SetMetrics(&registry);
  auto bytes = [&](const char* direction) {
    return registry
        .GetCounter("dicomweb_oauth_proxy_body_bytes_total", "", {{"server", "cloud"}, {"direction", direction}})
        .Value();
  };
  CHECK(bytes("request") == 0);  // the series exist before the first request
  CHECK(bytes("response") == 0);

  auto exchange = gw::proxy::BodyExchange::Open(f.service, f.Request("POST", "studies"));
  exchange->AddChunk("first piece,");
  exchange->AddChunk("second piece");
  FakeProxyAnswer stow;
  exchange->Execute(stow);
  REQUIRE(stow.status == 200);
  CHECK(bytes("request") == 24);
  CHECK(bytes("response") == stow.body.size());  // {"got":24}
  REQUIRE(f.audit->events.size() == 1);  // the same figures in the request's audit record
  const std::string record = RecordingAuditSink::Text(f.audit->events[0]);
  CHECK(record.find("\"bytes\":" + std::to_string(stow.body.size()) + ",") != std::string::npos);
  CHECK(record.find("\"requestBytes\":24,") != std::string::npos);

  FakeProxyAnswer qido;
  f.service->Serve(f.Request("GET", "studies"), qido);
  REQUIRE(qido.status == 200);
  CHECK(bytes("request") == 24);  // a GET has no body
  CHECK(bytes("response") == stow.body.size() + qido.body.size());

  SECTION("a body the route refused (no loopback secret) was never sent: not counted") {
    auto refused = gw::proxy::BodyExchange::Open(f.service, Incoming::Describe("POST", "cloud", "studies", {}, {}));
    refused->AddChunk(std::string(1000, 'x'));
    FakeProxyAnswer out;
    refused->Execute(out);
    REQUIRE(out.error);
    CHECK(bytes("request") == 24);
    CHECK(RecordingAuditSink::Text(f.audit->events.back()).find("\"requestBytes\":0,") != std::string::npos);
  }
  SECTION("a failed exchange counts the body it took; the gateway's error body is not an answer's") {
    f.upstream.answer = [](const FakeUpstream::Seen&) -> gw::Result<long> {
      return gw::MakeError("PXY-003", "unreachable", 502);
    };
    auto failed = gw::proxy::BodyExchange::Open(f.service, f.Request("POST", "studies"));
    failed->AddChunk("0123456789");
    FakeProxyAnswer out;
    failed->Execute(out);
    REQUIRE(out.error);
    CHECK(out.error->code == "PXY-003");
    CHECK(bytes("request") == 34);
    CHECK(bytes("response") == stow.body.size() + qido.body.size());
  }
  SECTION("a server name the caller made up adds no series and counts nothing") {
    // The name comes from the URI: hostile spellings must neither grow the registry nor reach a
    // configured server's counters.
    for (const std::string& name : std::vector<std::string>{"cloud/../cloud", "CLOUD", "cloud%00", "cloud\n",
                                                           std::string(4096, 'a')}) {
      auto unknown = gw::proxy::BodyExchange::Open(f.service, f.Request("POST", "studies", {}, {}, name));
      unknown->AddChunk(std::string(1000, 'x'));
      FakeProxyAnswer out;
      unknown->Execute(out);
      REQUIRE(out.error);
    }
    CHECK(bytes("request") == 24);
    const std::string text = registry.RenderPrometheus();
    CHECK(text.find("dicomweb_oauth_proxy_body_bytes_total{direction=\"request\",server=\"_unknown\"} 0") !=
          std::string::npos);
    CHECK(text.find("CLOUD") == std::string::npos);
    CHECK(text.find("aaaa") == std::string::npos);
  }
  SECTION("the text format carries both directions") {
    const std::string text = registry.RenderPrometheus();
    CHECK(text.find("dicomweb_oauth_proxy_body_bytes_total{direction=\"request\",server=\"cloud\"} 24") !=
          std::string::npos);
  }
}
