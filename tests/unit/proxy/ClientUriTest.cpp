// ClientUri::Classify: the URI text Orthanc's incoming-request filter receives -> what the DICOMweb
// plugin's routes make of it. The spellings below were sent through a real Orthanc 1.10.1 +
// DICOMweb 1.7 (civetweb 1.15): the filter's text is given after civetweb's decoding, as measured.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gw/proxy/ClientUri.h"
#include "gw/proxy/DicomWebDefinition.h"

using gw::proxy::ClientUri;
using Kind = gw::proxy::ClientUri::Kind;

namespace {

ClientUri C(const std::string& uri, const std::string& root = "/dicom-web/") { return ClientUri::Classify(uri, root); }

}  // namespace

TEST_CASE("Hardening: URI spelling variants of a DICOMweb client call are classified as that call",
          "[proxy][clienturi]") {
  // What the filter sees for the variants civetweb normalises (measured): trailing slash kept.
  for (const std::string uri : {"/dicom-web/servers/x/get", "/dicom-web/servers/x/get/"}) {
    INFO(uri);
    const ClientUri c = C(uri);
    CHECK(c.kind == Kind::Operation);
    CHECK(c.server == "x");
    CHECK(c.operation == "get");
  }
  for (const std::string op : {"stow", "wado", "get", "retrieve", "qido", "delete"}) {
    for (const std::string tail : {"", "/"}) {
      const ClientUri c = C("/dicom-web/servers/cloud/" + op + tail);
      INFO(op + tail);
      CHECK(c.kind == Kind::Operation);
      CHECK(c.server == "cloud");
      CHECK(c.operation == op);
    }
  }
}

TEST_CASE("Hardening: definitions and the server list are classified with or without a trailing slash",
          "[proxy][clienturi]") {
  CHECK(C("/dicom-web/servers").kind == Kind::ServerList);
  CHECK(C("/dicom-web/servers/").kind == Kind::ServerList);
  for (const std::string uri : {"/dicom-web/servers/cloud", "/dicom-web/servers/cloud/"}) {
    const ClientUri c = C(uri);
    CHECK(c.kind == Kind::Definition);
    CHECK(c.server == "cloud");
  }
}

TEST_CASE("Hardening: URIs that Orthanc routes to no server route are Other", "[proxy][clienturi]") {
  // Orthanc's regexes are case-sensitive and exact: these answered 404 in the real Orthanc.
  for (const std::string uri :
       {"/dicom-web/servers/x/GET", "/dicom-web/servers/x/get;x", "/dicom-web/servers/x/get#f",
        "/dicom-web/servers/x/get/extra", "/dicom-web/servers/x/gett", "/dicom-web/servers/x/post",
        "/dicom-web/studies", "/dicom-web/", "/", "/instances", "/dicomweb-oauth/servers/x/test",
        "/oauth-dicom-web/servers/x/studies", "/app/explorer.html", "/dicom-web/serversx/get",
        "/other/dicom-web/servers/x/get"}) {
    INFO(uri);
    CHECK(C(uri).kind == Kind::Other);
  }
}

TEST_CASE("Hardening: URIs left ambiguous after Orthanc's decoding are unclassifiable", "[proxy][clienturi]") {
  // A '%' left after civetweb's single decoding is a double-encoded spelling ("%252F" -> "%2F"):
  // Orthanc routes "x%2Fget" as a server name, another layer might read "x/get".
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/dicom-web/servers/x%2Fget", "x%2Fget"},
      {"/dicom-web/servers/x/get%2F", "x"},
      {"/dicom-web/servers/x/%67et", "x"},
      {"/dicom-web/servers/%78/get", "%78"},
      {"/dicom-web/servers/x\\get", "x\\get"},
      {"/dicom-web/servers/x/./get", "x"},
      {"/dicom-web/servers/y/../x/get", "y"},
      {"/dicom-web/servers/x/get/..", "x"},
      {std::string("/dicom-web/servers/x/get\r"), "x"},
      {std::string("/dicom-web/servers/x/g\x01t"), "x"},
  };
  for (const auto& [uri, guess] : cases) {
    INFO(uri);
    const ClientUri c = C(uri);
    CHECK(c.kind == Kind::Unclassifiable);
    CHECK(c.server == guess);
  }
}

TEST_CASE("Hardening: spellings of the servers prefix that Orthanc does not route are unclassifiable",
          "[proxy][clienturi]") {
  for (const std::string uri :
       {"/dicom-web//servers/x/get", "//dicom-web/servers/x/get", "/dicom-web/servers//x/get",
        "/dicom-web/servers/x//get", "/DICOM-WEB/servers/x/get", "/dicom-web/Servers/x/get",
        "/%64icom-web/servers/x/get", "/dicom-web%2Fservers/x/get", "/dicom-web/servers%2Fx%2Fget",
        "/dicom-web/%73ervers/x/get", "/dicom-web/%2573ervers/x/get", "/x/../dicom-web/servers/x/get",
        "/./dicom-web/servers/x/get", "\\dicom-web\\servers\\x\\get", "/dicom-web\\servers/x/get"}) {
    INFO(uri);
    const ClientUri c = C(uri);
    CHECK(c.kind == Kind::Unclassifiable);
    CHECK(c.server == "x");
  }
  // Near the list itself, no server to guess.
  const ClientUri list = C("/DICOM-WEB/servers");
  CHECK(list.kind == Kind::Unclassifiable);
  CHECK(list.server.empty());
}

TEST_CASE("Hardening: the DicomWeb.Root of the configuration is honoured", "[proxy][clienturi]") {
  for (const std::string root : {"/dw/", "dw", "/dw", "dw/"}) {
    INFO(root);
    const ClientUri c = C("/dw/servers/a/stow/", root);
    CHECK(c.kind == Kind::Operation);
    CHECK(c.server == "a");
    CHECK(c.operation == "stow");
    CHECK(C("/dicom-web/servers/a/stow", root).kind == Kind::Other);
  }
  const ClientUri deep = C("/a/b/servers/s/qido", "/a/b/");
  CHECK(deep.kind == Kind::Operation);
  CHECK(deep.server == "s");
  CHECK(C("/a/servers/s/qido", "/a/b/").kind == Kind::Other);
  CHECK(C("/a//b/servers/s/qido", "/a/b/").kind == Kind::Unclassifiable);
  // Root "/": the DICOMweb routes are at the top.
  CHECK(C("/servers/s/get", "/").kind == Kind::Operation);
}

TEST_CASE("Hardening: hostile URI text never throws and is classified", "[proxy][clienturi]") {
  const std::vector<std::string> hostile = {
      "",         "/",           "//",  "///",   "%",  "%%%", "/dicom-web/servers/%", "/dicom-web/servers/%2",
      "/dicom-web/servers/x/%%67et", std::string(100000, '/'),
      "/dicom-web/servers/" + std::string(100000, 'a') + "/get",
      std::string("/dicom-web/servers/x/get\0", 25), "/dicom-web/servers/" + std::string(50000, '%') + "/get",
      "/dicom-web/servers/" + std::string(20000, '.') + "/get"};
  for (const auto& uri : hostile) {
    INFO(uri.substr(0, 60));
    CHECK_NOTHROW(C(uri));
  }
  CHECK(C("/dicom-web/servers/%").kind == Kind::Unclassifiable);
  CHECK(C("/dicom-web/servers/" + std::string(100000, 'a') + "/get").kind == Kind::Operation);
  CHECK(C(std::string("/dicom-web/servers/x/get\0", 25)).kind == Kind::Unclassifiable);
}

TEST_CASE("Hardening: a definition changed behind the gateway is told apart from its own", "[proxy][clienturi]") {
  gw::proxy::DicomWebDefinition d;
  d.url = "http://127.0.0.1:8042/oauth-dicom-web/servers/cloud/";
  d.httpHeaders["X-DicomWeb-OAuth-Gateway"] = "secret-value-never-shown";
  d.hasDelete = false;
  auto shown = [](const std::string& text) {
    auto doc = std::make_shared<rapidjson::Document>();
    doc->Parse(text.c_str());
    REQUIRE(doc->IsObject());
    return doc;
  };
  // What DICOMweb 1.7 shows for the definition the gateway wrote (FormatPublic: header names only).
  auto same = shown(R"({"Url": "http://127.0.0.1:8042/oauth-dicom-web/servers/cloud/", "HttpHeaders":
                        ["X-DicomWeb-OAuth-Gateway"], "HasDelete": "0", "ChunkedTransfers": "1", "Pkcs11": false,
                        "Timeout": 0})");
  CHECK_FALSE(d.DriftFrom(same.get()).has_value());
  CHECK(d.DriftFrom(nullptr) == std::optional<std::string>("the definition is gone"));
  CHECK(d.DriftFrom(shown(R"({"Url": "http://evil.example/", "HttpHeaders": ["X-DicomWeb-OAuth-Gateway"],
                               "HasDelete": "0"})").get()) == std::optional<std::string>("Url differs"));
  CHECK(d.DriftFrom(shown(R"({"Url": "http://127.0.0.1:8042/oauth-dicom-web/servers/cloud/", "HttpHeaders": [],
                               "HasDelete": "0"})").get()) == std::optional<std::string>("HttpHeaders differ"));
  CHECK(d.DriftFrom(shown(R"({"Url": "http://127.0.0.1:8042/oauth-dicom-web/servers/cloud/", "HttpHeaders":
                               ["X-DicomWeb-OAuth-Gateway", "X-Other"], "HasDelete": "0"})").get()) ==
        std::optional<std::string>("HttpHeaders differ"));
  CHECK(d.DriftFrom(shown(R"({"Url": "http://127.0.0.1:8042/oauth-dicom-web/servers/cloud/", "HttpHeaders":
                               ["X-DicomWeb-OAuth-Gateway"], "HasDelete": "1"})").get()) ==
        std::optional<std::string>("HasDelete differs"));
  CHECK(d.DriftFrom(shown(R"({"Url": "http://127.0.0.1:8042/oauth-dicom-web/servers/cloud/", "Username": "mallory",
                               "Password": null, "HttpHeaders": ["X-DicomWeb-OAuth-Gateway"], "HasDelete": "0"})")
                        .get()) == std::optional<std::string>("Username differs"));
  // Orthanc stores a Url without a trailing '/' with one: that is no drift.
  gw::proxy::DicomWebDefinition noSlash = d;
  noSlash.url = "http://127.0.0.1:8042/dicom-web";
  CHECK_FALSE(noSlash.DriftFrom(shown(R"({"Url": "http://127.0.0.1:8042/dicom-web/", "HttpHeaders":
                                          ["X-DicomWeb-OAuth-Gateway"], "HasDelete": "0"})").get()).has_value());
  CHECK(noSlash.DriftFrom(shown(R"({"Url": "http://127.0.0.1:8042/dicom-web/x/", "HttpHeaders":
                                    ["X-DicomWeb-OAuth-Gateway"], "HasDelete": "0"})").get()).has_value());
  // HasDelete never set by the gateway: absent or "0" agree, "1" does not.
  d.hasDelete.reset();
  CHECK_FALSE(d.DriftFrom(shown(R"({"Url": "http://127.0.0.1:8042/oauth-dicom-web/servers/cloud/", "HttpHeaders":
                                     ["X-DicomWeb-OAuth-Gateway"]})").get()).has_value());
  CHECK(d.DriftFrom(shown(R"({"Url": "http://127.0.0.1:8042/oauth-dicom-web/servers/cloud/", "HttpHeaders":
                               ["X-DicomWeb-OAuth-Gateway"], "HasDelete": "1"})").get()).has_value());
}

TEST_CASE("Hardening: every spelling measured to reach the get handler is classified as the get of its server",
          "[proxy][clienturi]") {
  // Request target sent to Orthanc 1.10.1 -> the text its filter received (measured with an Orthanc
  // Lua filter; each of these ran DICOMweb 1.7's `get` of server x and reached the upstream).
  const std::vector<std::pair<std::string, std::string>> measured = {
      {"/dicom-web/servers/x/get", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/x/get/", "/dicom-web/servers/x/get/"},
      {"/dicom-web/servers/x//get", "/dicom-web/servers/x/get"},
      {"//dicom-web/servers/x/get", "/dicom-web/servers/x/get"},
      {"/dicom-web//servers/x/get", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers%2Fx%2Fget", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/x%2Fget", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/x/%67et", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/%78/get", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/x/get%2F", "/dicom-web/servers/x/get/"},
      {"/dicom-web/servers/x/./get", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/y/../x/get", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/x/get/.", "/dicom-web/servers/x/get/"},
      {"/dicom-web/servers/x/get/x/..", "/dicom-web/servers/x/get/"},
      {"/dicom-web/servers/x/get%00", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/x\\get", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/x%5Cget", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/x/get//", "/dicom-web/servers/x/get/"},
      {"/dicom-web/servers/x/get/%2e", "/dicom-web/servers/x/get/"},
      {"/dicom-web/servers/x/get%2e", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/%2e%2e/servers/x/get", "/dicom-web/servers/x/get"},
      {"/./dicom-web/servers/x/get", "/dicom-web/servers/x/get"},
      {"/dicom-web/servers/x/get/./", "/dicom-web/servers/x/get/"},
      {"/dicom-web/./servers/x/get", "/dicom-web/servers/x/get"},
  };
  for (const auto& [sent, filtered] : measured) {
    INFO(sent << " -> " << filtered);
    const ClientUri c = C(filtered);
    CHECK(c.kind == Kind::Operation);
    CHECK(c.server == "x");
    CHECK(c.operation == "get");
  }
  // And what reached no handler (404/405 measured) is no client call of x.
  CHECK(C("/dicom-web/servers/x/GET").kind == Kind::Other);
  CHECK(C("/dicom-web/servers/x/get;x").kind == Kind::Other);
  CHECK(C("/dicom-web/servers/x/get%2F", "/dicom-web/").kind == Kind::Unclassifiable);  // "%252F" sent
}
