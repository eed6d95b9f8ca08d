#include <catch2/catch.hpp>

#include <set>

#include "gw/common/SecretRegistry.h"
#include "gw/proxy/DicomWebDefinition.h"
#include "gw/proxy/LoopbackSecret.h"

using gw::proxy::DicomWebDefinition;
using gw::proxy::LoopbackSecret;

TEST_CASE("LoopbackSecret/random, 64 hex characters, registered as a secret", "[proxy][secret]") {
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    auto s = LoopbackSecret::Generate();
    REQUIRE(s.Ok());
    const std::string& v = s.Value().Value();
    CHECK(v.size() == 64);
    CHECK(v.find_first_not_of("0123456789abcdef") == std::string::npos);
    seen.insert(v);
    CHECK(gw::SecretRegistry::Redact("header " + v + " end") == "header *** end");
  }
  CHECK(seen.size() == 20);
}

TEST_CASE("LoopbackSecret/matches only the exact value", "[proxy][secret]") {
  const LoopbackSecret s = LoopbackSecret::FromValue("0123456789abcdef0123456789abcdef");
  CHECK(s.Matches("0123456789abcdef0123456789abcdef"));
  CHECK_FALSE(s.Matches(""));
  CHECK_FALSE(s.Matches("0123456789abcdef0123456789abcde"));
  CHECK_FALSE(s.Matches("0123456789abcdef0123456789abcdef0"));
  CHECK_FALSE(s.Matches("1123456789abcdef0123456789abcdef"));
  CHECK_FALSE(s.Matches("0123456789abcdef0123456789abcdeF"));
  CHECK_FALSE(s.Matches(std::string("0123456789abcdef0123456789abcdef\0", 33)));
  CHECK_THROWS(LoopbackSecret::FromValue("short"));
}

TEST_CASE("DicomWebDefinition/JSON body of the PUT", "[proxy][definition]") {
  DicomWebDefinition d;
  d.url = gw::proxy::LoopbackUrl(8042, "cloud");
  d.httpHeaders["X-DicomWeb-OAuth-Gateway"] = "s3cr3t-value-123";
  d.hasDelete = true;
  d.chunkedTransfers = false;
  d.timeoutSeconds = 120;
  d.userProperties["HasWadoRsUniversalTransferSyntax"] = "0";
  d.userProperties["Url"] = "http://evil/";  // owned key: ignored
  CHECK(d.ToJson() ==
        "{\"Url\":\"http://127.0.0.1:8042/oauth-dicom-web/servers/cloud/\","
        "\"HttpHeaders\":{\"X-DicomWeb-OAuth-Gateway\":\"s3cr3t-value-123\"},"
        "\"HasDelete\":\"1\",\"ChunkedTransfers\":\"0\",\"Timeout\":120,"
        "\"HasWadoRsUniversalTransferSyntax\":\"0\"}");
  SECTION("credentials and certificates") {
    DicomWebDefinition e;
    e.url = "https://up/dicom-web/";
    e.username = "orthanc";
    e.password = "pw\"x";
    e.certificateFile = "/c.pem";
    e.certificateKeyFile = "/k.pem";
    e.certificateKeyPassword = "kp";
    CHECK(e.ToJson() ==
          "{\"Url\":\"https://up/dicom-web/\",\"Username\":\"orthanc\",\"Password\":\"pw\\\"x\",\"HttpHeaders\":{},"
          "\"CertificateFile\":\"/c.pem\",\"CertificateKeyFile\":\"/k.pem\",\"CertificateKeyPassword\":\"kp\"}");
  }
}

TEST_CASE("DicomWebDefinition/loopback route recognition", "[proxy][definition]") {
  CHECK(gw::proxy::IsLoopbackRouteUrl("http://localhost:8042/oauth-dicom-web/servers/cloud/", "cloud"));
  CHECK(gw::proxy::IsLoopbackRouteUrl("http://127.0.0.1:9000/oauth-dicom-web/servers/cloud", "cloud"));
  CHECK(gw::proxy::IsLoopbackRouteUrl(gw::proxy::LoopbackUrl(8042, "a.b-c_d"), "a.b-c_d"));
  CHECK_FALSE(gw::proxy::IsLoopbackRouteUrl("http://localhost:8042/oauth-dicom-web/servers/cloud/", "cloud2"));
  CHECK_FALSE(gw::proxy::IsLoopbackRouteUrl("http://localhost:8042/oauth-dicom-web/servers/cloud2/", "cloud"));
  CHECK_FALSE(gw::proxy::IsLoopbackRouteUrl("https://dicom.example.com/dicom-web/", "cloud"));
  CHECK_FALSE(gw::proxy::IsLoopbackRouteUrl("http://x/prefix/oauth-dicom-web/servers/cloud/", "cloud"));
  CHECK_FALSE(gw::proxy::IsLoopbackRouteUrl("not a url", "cloud"));
}
