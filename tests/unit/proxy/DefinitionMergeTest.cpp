// The DicomWeb definition merge (gw/proxy/DefinitionMerge.h) and the loopback definitions proxy
// mode builds with it.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <memory>
#include <string>

#include "gw/proxy/DefinitionMerge.h"
#include "gw/proxy/HeaderPolicy.h"
#include "gw/proxy/ProxyService.h"

namespace {

std::shared_ptr<rapidjson::Document> Parse(const char* json) {
  auto doc = std::make_shared<rapidjson::Document>();
  doc->Parse(json);
  REQUIRE_FALSE(doc->HasParseError());
  return doc;
}

}  // namespace

TEST_CASE("DefinitionMerge: what the entry says fills what the definition leaves open") {
  gw::proxy::DicomWebDefinition d;
  d.url = "http://127.0.0.1:8042/oauth-dicom-web/servers/cloud/";
  d.timeoutSeconds = 30;  // set: kept
  auto existing = Parse(R"({"Url": "https://elsewhere/", "Username": "u", "Password": "p",
      "HttpHeaders": {"X-Key": "v"}, "HasDelete": "1", "ChunkedTransfers": false, "Timeout": 99,
      "HasWadoRsUniversalTransferSyntax": true, "Custom": "text", "Count": 7, "Ratio": 1.5, "List": [1]})");
  gw::proxy::MergeExistingDefinition(d, *existing);
  CHECK(d.url == "http://127.0.0.1:8042/oauth-dicom-web/servers/cloud/");  // never taken
  CHECK(d.username.empty());
  CHECK(d.password.empty());
  CHECK(d.httpHeaders.empty());
  REQUIRE(d.hasDelete);
  CHECK(*d.hasDelete);
  REQUIRE(d.chunkedTransfers);
  CHECK_FALSE(*d.chunkedTransfers);
  CHECK(*d.timeoutSeconds == 30);
  CHECK(d.userProperties.at("HasWadoRsUniversalTransferSyntax") == "1");
  CHECK(d.userProperties.at("Custom") == "text");
  CHECK(d.userProperties.at("Count") == "7");
  CHECK(d.userProperties.count("Ratio") == 0);  // Orthanc 1.10 takes strings only: no lossy form
  CHECK(d.userProperties.count("List") == 0);
  CHECK(d.userProperties.count("Url") == 0);
  CHECK(d.userProperties.count("Timeout") == 0);
}

// Regression: inject mode merged with a copy of its own that wrote every number through
// std::to_string(double) ("7.000000"); both modes now use this merge.
TEST_CASE("DefinitionMerge: whole numbers become integer text, whatever their JSON form") {
  gw::proxy::DicomWebDefinition d;
  gw::proxy::MergeExistingDefinition(
      d, *Parse(R"({"Int": 7, "Whole": 7.0, "Negative": -3, "Big": 5000000000, "Huge": 18446744073709551615,
                   "Fraction": 0.25, "Inexact": 1e300, "Null": null, "Object": {"a": 1}})"));
  CHECK(d.userProperties.at("Int") == "7");
  CHECK(d.userProperties.at("Whole") == "7");
  CHECK(d.userProperties.at("Negative") == "-3");
  CHECK(d.userProperties.at("Big") == "5000000000");
  CHECK(d.userProperties.at("Huge") == "18446744073709551615");
  CHECK(d.userProperties.count("Fraction") == 0);
  CHECK(d.userProperties.count("Inexact") == 0);  // beyond 2^53 a double names no one integer
  CHECK(d.userProperties.count("Null") == 0);
  CHECK(d.userProperties.count("Object") == 0);
}

TEST_CASE("DefinitionMerge: a non-object entry merges nothing and odd booleans are left open") {
  gw::proxy::DicomWebDefinition d;
  gw::proxy::MergeExistingDefinition(d, *Parse(R"(["https://x/", "u", "p"])"));
  CHECK(d.userProperties.empty());
  gw::proxy::MergeExistingDefinition(d, *Parse(R"({"HasDelete": "maybe", "Timeout": -5})"));
  CHECK_FALSE(d.hasDelete);
  CHECK_FALSE(d.timeoutSeconds);
}

TEST_CASE("DefinitionMerge: the loopback definition keeps a Python-plugin entry's Orthanc credentials") {
  gw::config::GatewayConfig config;
  config.orthanc.httpPort = 8043;
  gw::config::ServerConfig s;
  s.name = "cloud";
  s.url = "https://upstream.example/dicomweb/";
  s.mode = gw::config::ServerMode::Proxy;
  config.servers.emplace("cloud", s);
  gw::config::DicomWebServerDefinition python;
  python.url = "http://localhost:8042/oauth-dicom-web/servers/cloud/";
  python.username = "orthanc";
  python.password = "orthanc-pw";
  python.raw = Parse(R"({"Url": "http://localhost:8042/oauth-dicom-web/servers/cloud/", "Username": "orthanc",
                         "Password": "orthanc-pw", "HasDelete": true, "Extra": "kept"})");
  config.orthanc.dicomWebServers.emplace("cloud", python);

  gw::proxy::ProxyDependencies deps;
  deps.forward = [](const gw::proxy::ServerRoute&, const gw::proxy::ForwardRequest&,
                    gw::proxy::IResponseSink&) -> gw::Result<long> { return 200L; };
  auto service = gw::proxy::ProxyService::Create(config, std::move(deps));
  REQUIRE(service.Ok());
  const auto& d = service.Value()->Definitions().at("cloud");
  CHECK(d.url == "http://127.0.0.1:8043/oauth-dicom-web/servers/cloud/");
  CHECK(d.username == "orthanc");
  CHECK(d.password == "orthanc-pw");
  CHECK(*d.hasDelete);
  CHECK(*d.chunkedTransfers);  // streaming needs it: on unless the operator says otherwise
  CHECK(d.userProperties.at("Extra") == "kept");
  REQUIRE(d.httpHeaders.count(gw::proxy::kLoopbackSecretHeader) == 1);
  CHECK(d.httpHeaders.at(gw::proxy::kLoopbackSecretHeader).size() >= 32);

  // An entry that points elsewhere gives no credentials to the route.
  config.orthanc.dicomWebServers.at("cloud").url = "https://direct.example/";
  gw::proxy::ProxyDependencies again;
  again.forward = [](const gw::proxy::ServerRoute&, const gw::proxy::ForwardRequest&,
                     gw::proxy::IResponseSink&) -> gw::Result<long> { return 200L; };
  auto other = gw::proxy::ProxyService::Create(config, std::move(again));
  REQUIRE(other.Ok());
  CHECK(other.Value()->Definitions().at("cloud").username.empty());
}
