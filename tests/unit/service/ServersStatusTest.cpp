#include <rapidjson/document.h>

#include "config/ConfigTestSupport.h"
#include "gw/http/CurlHttpClient.h"
#include "gw/service/Gateway.h"

using namespace gw::config;
using namespace gw::config::test;

namespace {

constexpr const char* kSecret = "servers-status-secret-value";

// A gateway with one proxy-mode server routed by the failover policy over two targets, and one
// inject-mode server without policies. Nothing is fetched: the answer is built from configuration
// and state only.
std::unique_ptr<gw::service::Gateway> MakeGateway() {
  const std::string servers = std::string(R"({"Servers": {
      "fo": {"Mode": "proxy", "TokenEndpoint": "https://idp.example.com/token", "ClientId": "orthanc",
             "ClientSecret": ")") + kSecret + R"(", "Policies": ["failover"],
             "Targets": [{"Name": "primary", "Url": "https://a.example.com/dicom-web/"},
                         {"Name": "secondary", "Url": "https://b.example.com/dicom-web/"}]},
      "plain": {"Url": "https://c.example.com/dicom-web/", "TokenEndpoint": "https://idp.example.com/token",
                "ClientId": "orthanc", "ClientSecret": ")" + kSecret + R"("}}})";
  const ParseResult parsed = ParseJson(R"({"DicomWebOAuth": )" + servers + "}");
  INFO(Dump(parsed.diagnostics));
  REQUIRE(parsed.Ok());
  auto gateway = gw::service::Gateway::Create(*parsed.config, std::make_shared<gw::http::CurlHttpClient>());
  INFO((gateway.Ok() ? std::string() : gateway.GetError().ToString()));
  REQUIRE(gateway.Ok());
  return std::move(gateway).Value();
}

const rapidjson::Value& ServerEntry(const rapidjson::Document& doc, const std::string& name) {
  for (const auto& s : doc["servers"].GetArray()) {
    if (name == s["name"].GetString()) return s;
  }
  FAIL("no server " << name);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("Servers/policies and targets of each server, without secrets", "[service][status]") {
  auto gateway = MakeGateway();
  const gw::service::JsonAnswer answer = gateway->Servers();
  CHECK(answer.status == 200);
  CHECK(answer.body.find(kSecret) == std::string::npos);
  rapidjson::Document doc;
  doc.Parse(answer.body.c_str());
  REQUIRE(doc.IsObject());

  const auto& fo = ServerEntry(doc, "fo");
  REQUIRE(fo["policies"].Size() == 1);
  CHECK(std::string(fo["policies"][0].GetString()) == "failover");
  REQUIRE(fo["targets"].Size() == 2);
  CHECK(std::string(fo["targets"][0]["name"].GetString()) == "primary");
  CHECK(std::string(fo["targets"][0]["url"].GetString()) == "https://a.example.com/dicom-web/");
  CHECK(std::string(fo["targets"][1]["name"].GetString()) == "secondary");
  CHECK(std::string(fo["targets"][1]["url"].GetString()) == "https://b.example.com/dicom-web/");
  // No tracker given: health is not reported rather than guessed.
  CHECK_FALSE(fo["targets"][0].HasMember("healthy"));

  const auto& plain = ServerEntry(doc, "plain");
  CHECK(plain["policies"].Size() == 0);
  REQUIRE(plain["targets"].Size() == 1);
  CHECK(std::string(plain["targets"][0]["name"].GetString()) == "primary");
  CHECK(std::string(plain["targets"][0]["url"].GetString()) == "https://c.example.com/dicom-web/");
}

TEST_CASE("Servers/target health as the proxy observes it", "[service][status]") {
  auto gateway = MakeGateway();
  auto health = std::make_shared<gw::policy::TargetHealth>(2, std::chrono::seconds(30));
  health->ReportFailure(1);  // the secondary failed a moment ago
  const auto answer = gateway->Servers([&health](const std::string& server) {
    return server == "fo" ? health : nullptr;
  });
  rapidjson::Document doc;
  doc.Parse(answer.body.c_str());
  REQUIRE(doc.IsObject());
  const auto& fo = ServerEntry(doc, "fo");
  CHECK(fo["targets"][0]["healthy"].GetBool());
  CHECK(fo["targets"][0]["failures"].GetUint64() == 0);
  CHECK_FALSE(fo["targets"][0].HasMember("lastChange"));  // never changed since start
  CHECK_FALSE(fo["targets"][1]["healthy"].GetBool());
  CHECK(fo["targets"][1]["failures"].GetUint64() == 1);
  CHECK(std::string(fo["targets"][1]["lastChange"].GetString()).size() == 20);  // 2026-11-22T20:31:05Z
  CHECK_FALSE(ServerEntry(doc, "plain")["targets"][0].HasMember("healthy"));

  health->ReportFailure(1);  // still down: counted, the change time stays
  health->ReportSuccess(1);
  doc.Parse(gateway->Servers([&health](const std::string&) { return health; }).body.c_str());
  CHECK(ServerEntry(doc, "fo")["targets"][1]["healthy"].GetBool());
  CHECK(ServerEntry(doc, "fo")["targets"][1]["failures"].GetUint64() == 2);
}
