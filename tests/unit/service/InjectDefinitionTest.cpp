// Inject mode's server definition is built with the one merge proxy mode uses
// (gw/proxy/DefinitionMerge.h). Regression: inject mode had a merge of its own that wrote numbers
// as std::to_string(double) ("7.000000") and dropped the HasDelete/ChunkedTransfers/Timeout of
// an existing DicomWeb.Servers entry that proxy mode kept.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "service/InjectTestSupport.h"
#include "gw/common/Json.h"
#include "gw/service/InjectMode.h"

using namespace gw;
using namespace gw::service;
using namespace gw::service::test;

namespace {

// DicomWeb.Servers.cloud as an operator (or the Python plugin's set-up) left it.
const std::string kEntry = R"("DicomWeb": {"Servers": {"cloud": {
    "Url": "https://old.example/dicom-web/", "Username": "entry-user", "Password": "entry-pw",
    "HttpHeaders": {"X-Old": "x", "Authorization": "Basic ZW50cnk6cHc="},
    "HasDelete": "1", "ChunkedTransfers": false, "Timeout": 45,
    "HasWadoRsUniversalTransferSyntax": true, "Custom": "text", "Count": 7, "Whole": 7.0,
    "Big": 5000000000, "Ratio": 1.5, "List": [1], "Pkcs11": false, "UserProperties": "x"}}})";

proxy::DicomWebDefinition Build(const std::string& serverExtra, const std::string& root) {
  auto gateway = MakeGateway(std::make_shared<FakeIdp>(), R"({"cloud": )" + Server(serverExtra) + "}", "", root);
  InjectMode inject(*gateway, std::make_shared<RecordingWriter>());
  return inject.BuildDefinition("cloud", "Bearer token-1");
}

}  // namespace

TEST_CASE("InjectDefinition: the entry fills what the server leaves open, as in proxy mode", "[service][inject][definition]") {
  const auto d = Build("", kEntry);
  CHECK(d.url == "https://dicom.example.com/");  // the server's Url, never the entry's
  REQUIRE(d.hasDelete);
  CHECK(*d.hasDelete);
  REQUIRE(d.chunkedTransfers);
  CHECK_FALSE(*d.chunkedTransfers);
  REQUIRE(d.timeoutSeconds);
  CHECK(*d.timeoutSeconds == 45);
  CHECK(d.username == "entry-user");  // the server has none: the entry's
  CHECK(d.password == "entry-pw");
}

TEST_CASE("InjectDefinition: the server's own settings win over the entry's", "[service][inject][definition]") {
  const auto d = Build(R"("HasDelete": false, "Timeout": 30, "Username": "svc", "Password": "svc-pw")", kEntry);
  CHECK_FALSE(*d.hasDelete);
  CHECK(*d.timeoutSeconds == 30);
  CHECK_FALSE(*d.chunkedTransfers);  // left open by the server: the entry's
  CHECK(d.username == "svc");
  CHECK(d.password == "svc-pw");
}

TEST_CASE("InjectDefinition: headers are the server's plus the gateway's Authorization", "[service][inject][definition]") {
  const auto d = Build(R"("HttpHeaders": {"X-Tenant": "a", "X-Other": "b"})", kEntry);
  CHECK(d.httpHeaders.size() == 3);
  CHECK(d.httpHeaders.at("X-Tenant") == "a");
  CHECK(d.httpHeaders.at("X-Other") == "b");
  CHECK(d.httpHeaders.at("Authorization") == "Bearer token-1");  // never the entry's Basic credentials
  CHECK(d.httpHeaders.count("X-Old") == 0);
}

TEST_CASE("InjectDefinition: user properties keep integers as integers and leave reserved keys out", "[service][inject][definition]") {
  const auto d = Build("", kEntry);
  CHECK(d.userProperties.at("HasWadoRsUniversalTransferSyntax") == "1");
  CHECK(d.userProperties.at("Custom") == "text");
  CHECK(d.userProperties.at("Count") == "7");   // not "7.000000"
  CHECK(d.userProperties.at("Whole") == "7");   // 7.0 is the integer 7
  CHECK(d.userProperties.at("Big") == "5000000000");
  CHECK(d.userProperties.count("Ratio") == 0);  // no exact text form: left out, not rounded
  CHECK(d.userProperties.count("List") == 0);
  for (const char* owned : {"Url", "Username", "Password", "HttpHeaders", "HasDelete", "ChunkedTransfers", "Timeout",
                            "Pkcs11", "UserProperties"}) {
    INFO(owned);
    CHECK(d.userProperties.count(owned) == 0);
  }
  // What the PUT carries: Timeout as a JSON integer, booleans and user properties as strings.
  auto body = json::Parse(d.ToJson(), "GW-400");
  REQUIRE(body.Ok());
  const auto& doc = body.Value();
  CHECK(doc["Timeout"].IsInt());
  CHECK(doc["Timeout"].GetInt() == 45);
  CHECK(std::string(doc["HasDelete"].GetString()) == "1");
  CHECK(std::string(doc["ChunkedTransfers"].GetString()) == "0");
  CHECK(std::string(doc["Count"].GetString()) == "7");
  CHECK(std::string(doc["Url"].GetString()) == "https://dicom.example.com/");
}

TEST_CASE("InjectDefinition: without a DicomWeb.Servers entry only the server's settings are written", "[service][inject][definition]") {
  const auto d = Build(R"("ChunkedTransfers": true)", "");
  CHECK_FALSE(d.hasDelete);
  CHECK(*d.chunkedTransfers);
  CHECK_FALSE(d.timeoutSeconds);
  CHECK(d.username.empty());
  CHECK(d.userProperties.empty());
  CHECK(d.httpHeaders.size() == 1);
}

TEST_CASE("InjectDefinition: an entry that pointed at the proxy route gives no credentials", "[service][inject][definition]") {
  // The Python plugin's set-up without `Mode`: DicomWeb.Servers.cloud names this Orthanc's route
  // with an Orthanc user. That user is for the loopback call, never for the upstream.
  const std::string routeEntry = R"("DicomWeb": {"Servers": {"cloud": {
      "Url": "http://localhost:8042/oauth-dicom-web/servers/cloud/", "Username": "orthanc",
      "Password": "orthanc-pw", "HasDelete": "1"}}})";
  const auto d = Build("", routeEntry);
  CHECK(d.url == "https://dicom.example.com/");
  CHECK(d.username.empty());
  CHECK(d.password.empty());
  REQUIRE(d.hasDelete);  // its other settings are merged as before
  CHECK(*d.hasDelete);
  // Other spellings of the same route (no trailing slash, another host name or port for this
  // Orthanc, https) are the route too.
  for (const char* url : {"http://localhost:8042/oauth-dicom-web/servers/cloud",
                          "http://127.0.0.1:9999/oauth-dicom-web/servers/cloud/",
                          "https://orthanc.internal/oauth-dicom-web/servers/cloud/"}) {
    const auto variant = Build("", std::string(R"("DicomWeb": {"Servers": {"cloud": {"Url": ")") + url +
                                       R"(", "Username": "orthanc", "Password": "orthanc-pw"}}})");
    CHECK(variant.username.empty());
    CHECK(variant.password.empty());
  }
  // The server's own credentials are still the server's.
  const auto own = Build(R"("Username": "svc", "Password": "svc-pw")", routeEntry);
  CHECK(own.username == "svc");
  CHECK(own.password == "svc-pw");
}
