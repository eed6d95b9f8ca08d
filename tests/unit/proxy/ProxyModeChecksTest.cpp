// The proxy-mode start-up checks (gw/config/ProxyModeChecks.h): one function for the configuration
// pass, check-config and the proxy service.
#include <catch2/catch.hpp>

#include <string>

#include "config/ConfigTestSupport.h"
#include "gw/config/ProxyModeChecks.h"
#include "gw/proxy/ProxyService.h"

using namespace gw::config;
using namespace gw::config::test;

namespace {

GatewayConfig ProxyConfig() {
  GatewayConfig c;
  ServerConfig s;
  s.name = "cloud";
  s.url = "https://upstream.example/dicomweb/";
  s.mode = ServerMode::Proxy;
  s.targets = {{"primary", s.url}};
  c.servers.emplace("cloud", s);
  return c;
}

const Diagnostic* At(const std::vector<Diagnostic>& found, const std::string& path) {
  for (const auto& d : found) {
    if (d.path == path) return &d;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("ProxyModeChecks: a reserved HttpHeaders entry of a proxy-mode server is an error") {
  auto c = ProxyConfig();
  c.servers.at("cloud").httpHeaders = {{"Host", "evil.example.com"}, {"X-Api-Key", "planted-value-1"}};
  const auto found = CheckProxyMode(c);
  REQUIRE(found.size() == 1);
  CHECK(found[0].code == "CFG-002");
  CHECK(found[0].path == "DicomWebOAuth.Servers.cloud.HttpHeaders.Host");
  CHECK(found[0].ToString().find("evil.example.com") == std::string::npos);
  // The same headers on an inject-mode server are not the proxy's business.
  c.servers.at("cloud").mode = ServerMode::Inject;
  CHECK(CheckProxyMode(c).empty());
}

TEST_CASE("ProxyModeChecks: proxy mode with DicomWeb.ServersInDatabase is refused unless allowed") {
  auto c = ProxyConfig();
  c.orthanc.dicomWebServersInDatabase = true;
  const auto found = CheckProxyMode(c);
  const Diagnostic* d = At(found, "DicomWebOAuth.Servers.cloud.Mode");
  REQUIRE(d);
  CHECK(d->code == "CFG-002");
  CHECK(d->message.find("DicomWeb.ServersInDatabase") != std::string::npos);
  CHECK(d->message.find("AllowInjectWithServersInDatabase") != std::string::npos);
  c.global.allowInjectWithServersInDatabase = true;
  CHECK(CheckProxyMode(c).empty());
}

TEST_CASE("ProxyModeChecks: the proxy service refuses to start with the same verdict") {
  auto c = ProxyConfig();
  c.servers.at("cloud").httpHeaders = {{"Connection", "close"}};
  gw::proxy::ProxyDependencies deps;
  auto created = gw::proxy::ProxyService::Create(c, std::move(deps));
  REQUIRE_FALSE(created.Ok());
  CHECK(created.GetError().code == "CFG-002");
  CHECK(created.GetError().message.find("HttpHeaders.Connection") != std::string::npos);
}

TEST_CASE("ProxyModeChecks: the configuration pass reports what proxy mode would refuse at start") {
  SECTION("reserved header") {
    auto r = ParseJson(WithServer(BaseServer(R"("Mode": "proxy", "HttpHeaders": {"Host": "evil.example.com"})")));
    CHECK_FALSE(r.Ok());
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.Servers.s.HttpHeaders.Host"));
  }
  SECTION("ServersInDatabase") {
    auto r = ParseJson(WithServer(BaseServer(R"("Mode": "proxy")"), "", R"("DicomWeb": {"ServersInDatabase": true})"));
    CHECK_FALSE(r.Ok());
    CHECK(Has(r.diagnostics, "CFG-002", "DicomWebOAuth.Servers.s.Mode"));
    CHECK(ParseJson(WithServer(BaseServer(R"("Mode": "proxy")"), R"("AllowInjectWithServersInDatabase": true)",
                               R"("DicomWeb": {"ServersInDatabase": true})"))
              .Ok());
  }
  SECTION("a valid proxy-mode server stays valid") {
    auto r = ParseJson(WithServer(BaseServer(R"("Mode": "proxy", "HttpHeaders": {"X-Api-Key": "k"})")));
    INFO(Dump(r.diagnostics));
    CHECK(r.Ok());
  }
}
