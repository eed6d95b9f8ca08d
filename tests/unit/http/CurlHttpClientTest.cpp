// CurlHttpClient against real HTTP and HTTPS servers on 127.0.0.1 (tests/unit/http/TestServer.h) with
// the test PKI of tests/fixtures/crypto.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>
#include <vector>

#include "gw/http/CurlHttpClient.h"
#include "http/TestServer.h"

using gw::http::CurlHttpClient;
using gw::http::HttpRequest;
using gw::test::TestRequest;
using gw::test::TestResponse;
using gw::test::TestServer;
using gw::test::TestTlsConfig;

namespace {

std::string Fixture(const std::string& name) { return std::string(GW_SOURCE_DIR) + "/tests/fixtures/crypto/" + name; }

// Tests must not depend on proxies configured on the machine running them.
void ClearProxyEnvironment() {
  for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                           "no_proxy", "NO_PROXY"}) {
    unsetenv(name);
  }
}

HttpRequest Get(const std::string& url) {
  HttpRequest r;
  r.url = url;
  return r;
}

TestTlsConfig ServerTls() {
  TestTlsConfig tls;
  tls.certificateFile = Fixture("server.pem");
  tls.keyFile = Fixture("server.key");
  return tls;
}

TestResponse Echo(const TestRequest& req) {
  TestResponse res;
  res.headers = {{"X-Echo-Method", req.method}, {"X-Echo-Target", req.target}, {"Content-Type", "text/plain"}};
  res.body = req.body;
  return res;
}

}  // namespace

TEST_CASE("CurlHttpClient/methods, bodies and headers both ways", "[http]") {
  ClearProxyEnvironment();
  std::mutex m;
  TestRequest seen;
  TestServer server([&](const TestRequest& req) {
    std::lock_guard<std::mutex> lock(m);
    seen = req;
    TestResponse res = Echo(req);
    res.headers.emplace_back("Set-Cookie", "a=1");
    res.headers.emplace_back("Set-Cookie", "b=2");
    res.headers.emplace_back("X-MiXeD-Case", "  padded value  ");
    return res;
  });
  CurlHttpClient client;

  SECTION("GET with a query and request headers") {
    HttpRequest req = Get(server.Url("/path/x?a=1&b=two"));
    req.headers = {{"X-Request-Id", "abc-123"}, {"Accept", "application/json"}};
    auto res = client.Perform(req);
    REQUIRE(res.Ok());
    CHECK(res.Value().status == 200);
    CHECK(seen.method == "GET");
    CHECK(seen.target == "/path/x?a=1&b=two");
    CHECK(seen.Header("x-request-id") == "abc-123");
    CHECK(seen.Header("accept") == "application/json");
    CHECK(seen.Header("expect").empty());
    // Response header names are lower-cased, values trimmed, repeated headers kept.
    CHECK(res.Value().Header("x-mixed-case") == std::optional<std::string>("padded value"));
    CHECK(res.Value().Header("X-Echo-Method") == std::optional<std::string>("GET"));
    int cookies = 0;
    for (const auto& [k, v] : res.Value().headers) {
      CHECK(std::none_of(k.begin(), k.end(), [](unsigned char c) { return std::isupper(c); }));
      if (k == "set-cookie") ++cookies;
    }
    CHECK(cookies == 2);
  }

  SECTION("POST form body") {
    HttpRequest req = Get(server.Url("/token"));
    req.method = "POST";
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    req.body = "grant_type=client_credentials&scope=a%20b";
    auto res = client.Perform(req);
    REQUIRE(res.Ok());
    CHECK(seen.method == "POST");
    CHECK(seen.body == req.body);
    CHECK(seen.Header("content-type") == "application/x-www-form-urlencoded");
    CHECK(seen.Header("content-length") == std::to_string(req.body.size()));
    CHECK(res.Value().body == req.body);
  }

  SECTION("large POST body is sent without Expect: 100-continue") {
    HttpRequest req = Get(server.Url("/big"));
    req.method = "POST";
    req.body = std::string(3 * 1024 * 1024, 'z');
    auto res = client.Perform(req);
    REQUIRE(res.Ok());
    CHECK(seen.body.size() == req.body.size());
    CHECK(seen.Header("expect").empty());
  }

  SECTION("empty POST, PUT, DELETE, HEAD") {
    HttpRequest post = Get(server.Url("/empty"));
    post.method = "POST";
    REQUIRE(client.Perform(post).Ok());
    CHECK(seen.method == "POST");
    CHECK(seen.Header("content-length") == "0");

    HttpRequest put = Get(server.Url("/r"));
    put.method = "PUT";
    put.body = "{\"a\":1}";
    auto r = client.Perform(put);
    REQUIRE(r.Ok());
    CHECK(seen.method == "PUT");
    CHECK(seen.body == put.body);

    HttpRequest del = Get(server.Url("/r/1"));
    del.method = "DELETE";
    REQUIRE(client.Perform(del).Ok());
    CHECK(seen.method == "DELETE");
    CHECK(seen.body.empty());

    HttpRequest head = Get(server.Url("/r/1"));
    head.method = "HEAD";
    auto h = client.Perform(head);
    REQUIRE(h.Ok());
    CHECK(seen.method == "HEAD");
    CHECK(h.Value().body.empty());
  }

  SECTION("header with an empty value is sent") {
    HttpRequest req = Get(server.Url("/"));
    req.headers = {{"X-Empty", ""}};
    REQUIRE(client.Perform(req).Ok());
    bool found = false;
    for (const auto& [k, v] : seen.headers) found = found || (k == "x-empty" && v.empty());
    CHECK(found);
  }
}

TEST_CASE("CurlHttpClient/4xx and 5xx are responses, not errors", "[http]") {
  ClearProxyEnvironment();
  TestServer server([](const TestRequest& req) {
    TestResponse res;
    res.status = req.target == "/missing" ? 404 : (req.target == "/unauthorized" ? 401 : 500);
    res.headers = {{"WWW-Authenticate", "Bearer error=\"invalid_token\""}};
    res.body = "{\"error\":\"x\"}";
    return res;
  });
  CurlHttpClient client;
  for (const auto& [path, status] : std::vector<std::pair<std::string, long>>{{"/missing", 404}, {"/unauthorized", 401}, {"/boom", 500}}) {
    auto res = client.Perform(Get(server.Url(path)));
    REQUIRE(res.Ok());
    CHECK(res.Value().status == status);
    CHECK(res.Value().body == "{\"error\":\"x\"}");
    CHECK(res.Value().Header("www-authenticate") == std::optional<std::string>("Bearer error=\"invalid_token\""));
  }
}

TEST_CASE("CurlHttpClient/transport errors carry NET codes and no URL details", "[http]") {
  ClearProxyEnvironment();
  CurlHttpClient client;

  SECTION("refused port -> NET-001, message names host, not the query") {
    const int port = TestServer::UnusedPort();
    auto res = client.Perform(Get("http://127.0.0.1:" + std::to_string(port) + "/token?client_secret=s3cr3t-value"));
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-001");
    CHECK(res.GetError().message.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
    CHECK(res.GetError().message.find("s3cr3t-value") == std::string::npos);
    CHECK(res.GetError().message.find("/token") == std::string::npos);
  }

  SECTION("timeout -> NET-002") {
    TestServer slow([](const TestRequest&) {
      TestResponse res;
      res.delay = std::chrono::milliseconds(1500);
      return res;
    });
    HttpRequest req = Get(slow.Url("/slow?code=secret-code-123"));
    req.timeout = std::chrono::milliseconds(200);
    auto res = client.Perform(req);
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-002");
    CHECK(res.GetError().httpStatus == 504);
    CHECK(res.GetError().message.find("secret-code-123") == std::string::npos);
  }

  SECTION("no time left -> NET-002 without sending") {
    TestServer server(Echo);
    HttpRequest req = Get(server.Url("/"));
    req.timeout = std::chrono::milliseconds(0);
    auto res = client.Perform(req);
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-002");
    CHECK(server.Requests() == 0);
  }

  SECTION("only http and https -> NET-004") {
    for (const char* url : {"ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/", "dict://127.0.0.1/",
                            "not a url", "", "http://127.0.0.1/a\r\nX-Injected: 1"}) {
      auto res = client.Perform(Get(url));
      REQUIRE_FALSE(res.Ok());
      INFO(url);
      CHECK(res.GetError().code == "NET-004");
    }
  }

  SECTION("invalid method or header -> NET-004, nothing sent") {
    TestServer server(Echo);
    HttpRequest bad = Get(server.Url("/"));
    bad.method = "GET /x HTTP/1.1\r\n";
    CHECK(client.Perform(bad).GetError().code == "NET-004");
    HttpRequest header = Get(server.Url("/"));
    header.headers = {{"X-Split", "a\r\nInjected: yes"}};
    auto res = client.Perform(header);
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-004");
    CHECK(res.GetError().message.find("Injected") == std::string::npos);
    HttpRequest name = Get(server.Url("/"));
    name.headers = {{"Bad Name", "v"}};
    CHECK(client.Perform(name).GetError().code == "NET-004");
    CHECK(server.Requests() == 0);
  }
}

TEST_CASE("CurlHttpClient/response size limit -> NET-006", "[http]") {
  ClearProxyEnvironment();
  TestServer server([](const TestRequest& req) {
    TestResponse res;
    res.body = std::string(2 * 1024 * 1024, 'a');
    res.chunked = req.target == "/chunked";  // no Content-Length: the limit must apply while receiving
    if (req.target == "/headers") {
      res.body = "small";
      for (int i = 0; i < 200; ++i) res.headers.emplace_back("X-Filler-" + std::to_string(i), std::string(100, 'h'));
    }
    return res;
  });
  gw::http::CurlHttpClientOptions options;
  options.maxHeaderBytes = 8 * 1024;
  CurlHttpClient client(options);

  for (const char* path : {"/content-length", "/chunked"}) {
    HttpRequest req = Get(server.Url(path));
    req.maxResponseBytes = 1024 * 1024;
    auto res = client.Perform(req);
    INFO(path);
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-006");
  }
  HttpRequest fits = Get(server.Url("/chunked"));
  fits.maxResponseBytes = 2 * 1024 * 1024;
  auto ok = client.Perform(fits);
  REQUIRE(ok.Ok());
  CHECK(ok.Value().body.size() == 2 * 1024 * 1024);

  auto headers = client.Perform(Get(server.Url("/headers")));
  REQUIRE_FALSE(headers.Ok());
  CHECK(headers.GetError().code == "NET-006");
}

TEST_CASE("CurlHttpClient/redirects are not followed unless asked", "[http]") {
  ClearProxyEnvironment();
  TestServer redirector([&](const TestRequest& req) {
    if (req.target == "/landed") return Echo(req);
    TestResponse res;
    res.status = 302;
    res.headers = {{"Location", req.target == "/to-ftp" ? "ftp://127.0.0.1/x" : "/landed"}};
    return res;
  });
  CurlHttpClient client;
  HttpRequest req = Get(redirector.Url("/start"));
  req.headers = {{"Authorization", "Bearer abcdef123456"}};
  auto res = client.Perform(req);
  REQUIRE(res.Ok());
  CHECK(res.Value().status == 302);

  // Within the origin (a relative Location here) it is followed when asked.
  req.followRedirects = true;
  auto followed = client.Perform(req);
  REQUIRE(followed.Ok());
  CHECK(followed.Value().status == 200);
  CHECK(followed.Value().Header("x-echo-target") == std::optional<std::string>("/landed"));

  HttpRequest toFtp = Get(redirector.Url("/to-ftp"));
  toFtp.followRedirects = true;
  auto refused = client.Perform(toFtp);
  REQUIRE_FALSE(refused.Ok());
  CHECK(refused.GetError().code == "NET-004");
}

TEST_CASE("Hardening: a redirect off the origin is never followed with the request's credentials", "[http]") {
  ClearProxyEnvironment();
  std::mutex m;
  std::vector<TestRequest> elsewhere;
  TestServer other([&](const TestRequest& req) {
    std::lock_guard<std::mutex> lock(m);
    elsewhere.push_back(req);
    return Echo(req);
  });
  // Same host, another port, is another origin too (what a shared host would give an attacker).
  TestServer redirector([&](const TestRequest& req) {
    TestResponse res;
    res.status = req.target == "/307" ? 307 : req.target == "/308" ? 308 : 302;
    res.headers = {{"Location", other.Url("/stolen")}};
    return res;
  });
  CurlHttpClient client;
  for (const std::string path : {"/302", "/307", "/308"}) {
    for (const bool follow : {false, true}) {
      INFO(path << (follow ? " follow" : ""));
      HttpRequest req = Get(redirector.Url(path));
      req.method = "POST";
      req.body = "grant_type=client_credentials&client_secret=s3cr3t-value";
      req.headers = {{"Authorization", "Basic Y2xpZW50OnNlY3JldA=="}, {"X-Api-Key", "key-value"}};
      req.followRedirects = follow;
      auto res = client.Perform(req);
      REQUIRE(res.Ok());
      CHECK(res.Value().status >= 300);
      CHECK(res.Value().status < 400);
    }
  }
  std::lock_guard<std::mutex> lock(m);
  CHECK(elsewhere.empty());
}

TEST_CASE("CurlHttpClient/TLS verification", "[http][tls]") {
  ClearProxyEnvironment();
  TestServer server(Echo, ServerTls());
  CurlHttpClient client;

  SECTION("the system CA store does not know the test CA -> NET-003") {
    auto res = client.Perform(Get(server.Url("/")));
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-003");
  }
  SECTION("an unrelated CA -> NET-003") {
    HttpRequest req = Get(server.Url("/"));
    req.tls.caBundle = Fixture("other-ca.pem");
    auto res = client.Perform(req);
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-003");
  }
  SECTION("the right CA -> OK") {
    HttpRequest req = Get(server.Url("/secure?x=1"));
    req.tls.caBundle = Fixture("ca.pem");
    auto res = client.Perform(req);
    REQUIRE(res.Ok());
    CHECK(res.Value().status == 200);
    CHECK(res.Value().Header("x-echo-target") == std::optional<std::string>("/secure?x=1"));
  }
  SECTION("the host name is checked") {
    HttpRequest byName = Get("https://localhost:" + std::to_string(server.Port()) + "/");
    byName.tls.caBundle = Fixture("ca.pem");
    // localhost may resolve to ::1 first, where nothing listens; curl then tries 127.0.0.1.
    REQUIRE(client.Perform(byName).Ok());

    TestTlsConfig wrongTls = ServerTls();
    wrongTls.certificateFile = Fixture("server-wrong-name.pem");  // valid chain, other host name
    TestServer wrongName(Echo, wrongTls);
    HttpRequest req = Get(wrongName.Url("/"));
    req.tls.caBundle = Fixture("ca.pem");
    auto res = client.Perform(req);
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-003");
    req.tls.verifyPeer = false;
    CHECK(client.Perform(req).Ok());
  }
  SECTION("verification off when explicitly asked -> OK") {
    HttpRequest req = Get(server.Url("/"));
    req.tls.verifyPeer = false;
    auto res = client.Perform(req);
    REQUIRE(res.Ok());
    CHECK(res.Value().status == 200);
  }
  SECTION("a missing CA file -> NET-003") {
    HttpRequest req = Get(server.Url("/"));
    req.tls.caBundle = Fixture("does-not-exist.pem");
    auto res = client.Perform(req);
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-003");
  }
}

TEST_CASE("CurlHttpClient/mutual TLS", "[http][tls]") {
  ClearProxyEnvironment();
  TestTlsConfig tls = ServerTls();
  tls.clientCaFile = Fixture("ca.pem");
  tls.requireClientCertificate = true;
  std::mutex m;
  TestRequest seen;
  TestServer server(
      [&](const TestRequest& req) {
        std::lock_guard<std::mutex> lock(m);
        seen = req;
        return Echo(req);
      },
      tls);
  CurlHttpClient client;
  HttpRequest base = Get(server.Url("/mtls"));
  base.tls.caBundle = Fixture("ca.pem");

  SECTION("with the client certificate and key") {
    HttpRequest req = base;
    req.tls.clientCertificate = Fixture("client.pem");
    req.tls.clientKey = Fixture("client.key");
    auto res = client.Perform(req);
    REQUIRE(res.Ok());
    CHECK(res.Value().status == 200);
    CHECK(seen.clientCertificate);
    CHECK(seen.clientSubjectCn == "gw-test-client");
  }
  SECTION("with an encrypted key and its password") {
    HttpRequest req = base;
    req.tls.clientCertificate = Fixture("client.pem");
    req.tls.clientKey = Fixture("client-encrypted.key");
    req.tls.clientKeyPassword = "test-only-password";
    auto res = client.Perform(req);
    REQUIRE(res.Ok());
    CHECK(seen.clientSubjectCn == "gw-test-client");
  }
  SECTION("with a wrong key password -> NET-003, password not in the message") {
    HttpRequest req = base;
    req.tls.clientCertificate = Fixture("client.pem");
    req.tls.clientKey = Fixture("client-encrypted.key");
    req.tls.clientKeyPassword = "wrong-password-xyz";
    auto res = client.Perform(req);
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-003");
    CHECK(res.GetError().message.find("wrong-password-xyz") == std::string::npos);
  }
  SECTION("without a client certificate -> NET-003") {
    auto res = client.Perform(base);
    REQUIRE_FALSE(res.Ok());
    INFO(res.GetError().ToString());
    CHECK(res.GetError().code == "NET-003");
  }
}

// The TLS files of a Lua script are read by the engine (through the script file allowlist) and
// reach libcurl by contents: the same verification as with file names, against a real TLS server.
TEST_CASE("Hardening: TLS CA, client certificate and key given by contents", "[http][tls]") {
  ClearProxyEnvironment();
  TestTlsConfig tls = ServerTls();
  tls.clientCaFile = Fixture("ca.pem");
  std::mutex m;
  TestRequest seen;
  TestServer server(
      [&](const TestRequest& req) {
        std::lock_guard<std::mutex> lock(m);
        seen = req;
        return Echo(req);
      },
      tls);
  CurlHttpClient client;
  auto read = [](const std::string& name) {
    std::ifstream in(Fixture(name), std::ios::binary);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };

  SECTION("the right CA -> OK, and it wins over a wrong CA file name") {
    HttpRequest req = Get(server.Url("/pem"));
    req.tls.caBundlePem = read("ca.pem");
    req.tls.caBundle = Fixture("other-ca.pem");
    auto res = client.Perform(req);
    REQUIRE(res.Ok());
    CHECK(res.Value().status == 200);
  }
  SECTION("an unrelated CA -> NET-003: only the given CA is trusted") {
    HttpRequest req = Get(server.Url("/pem"));
    req.tls.caBundlePem = read("other-ca.pem");
    auto res = client.Perform(req);
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-003");
  }
  SECTION("client certificate and encrypted key by contents") {
    HttpRequest req = Get(server.Url("/mtls"));
    req.tls.caBundlePem = read("ca.pem");
    req.tls.clientCertificatePem = read("client.pem");
    req.tls.clientKeyPem = read("client-encrypted.key");
    req.tls.clientKeyPassword = "test-only-password";
    auto res = client.Perform(req);
    REQUIRE(res.Ok());
    CHECK(seen.clientCertificate);
    CHECK(seen.clientSubjectCn == "gw-test-client");
  }
  SECTION("a wrong key by contents -> NET-003") {
    HttpRequest req = Get(server.Url("/mtls"));
    req.tls.caBundlePem = read("ca.pem");
    req.tls.clientCertificatePem = read("client.pem");
    req.tls.clientKeyPem = read("client-encrypted.key");
    req.tls.clientKeyPassword = "wrong-password-xyz";
    auto res = client.Perform(req);
    REQUIRE_FALSE(res.Ok());
    CHECK(res.GetError().code == "NET-003");
  }
}

TEST_CASE("CurlHttpClient/connection reuse", "[http]") {
  ClearProxyEnvironment();
  TestServer server(Echo);
  CurlHttpClient client;

  REQUIRE(client.Perform(Get(server.Url("/one"))).Ok());
  CHECK(CurlHttpClient::LastNewConnections() == 1);
  REQUIRE(client.Perform(Get(server.Url("/two"))).Ok());
  CHECK(CurlHttpClient::LastNewConnections() == 0);

  // Another thread (possibly another easy handle) finds the connection in the shared cache.
  long otherThread = -1;
  std::thread([&] {
    auto res = client.Perform(Get(server.Url("/three")));
    if (res.Ok()) otherThread = CurlHttpClient::LastNewConnections();
  }).join();
  CHECK(otherThread == 0);
  CHECK(server.Connections() == 1);
  CHECK(server.Requests() == 3);

  SECTION("TLS connections are reused too") {
    TestServer tlsServer(Echo, ServerTls());
    HttpRequest req = Get(tlsServer.Url("/"));
    req.tls.caBundle = Fixture("ca.pem");
    REQUIRE(client.Perform(req).Ok());
    CHECK(CurlHttpClient::LastNewConnections() == 1);
    REQUIRE(client.Perform(req).Ok());
    CHECK(CurlHttpClient::LastNewConnections() == 0);
    CHECK(tlsServer.Connections() == 1);
  }
}

TEST_CASE("CurlHttpClient/concurrent use from 8 threads", "[http]") {
  ClearProxyEnvironment();
  TestServer server([](const TestRequest& req) {
    TestResponse res;
    res.body = "reply:" + req.target;
    return res;
  });
  TestServer tlsServer([](const TestRequest& req) {
    TestResponse res;
    res.body = "tls:" + req.target;
    return res;
  }, ServerTls());
  CurlHttpClient client;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string path = "/t" + std::to_string(t) + "/r" + std::to_string(i);
        const bool tls = i % 4 == 0;
        HttpRequest req = Get(tls ? tlsServer.Url(path) : server.Url(path));
        req.tls.caBundle = Fixture("ca.pem");
        auto res = client.Perform(req);
        if (res.Ok() && res.Value().status == 200 && res.Value().body == (tls ? "tls:" : "reply:") + path) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(good.load() == kThreads * kPerThread);
  // Connections are reused: far fewer than requests (at most one per concurrent thread and server,
  // plus a few when the idle cache is full).
  CHECK(server.Connections() <= 2 * kThreads);
  CHECK(tlsServer.Connections() <= 2 * kThreads);
}

TEST_CASE("CurlHttpClient/proxy environment variables", "[http]") {
  ClearProxyEnvironment();
  std::mutex m;
  std::vector<std::string> proxied;
  TestServer proxy([&](const TestRequest& req) {
    std::lock_guard<std::mutex> lock(m);
    proxied.push_back(req.target);
    TestResponse res;
    res.body = "via-proxy";
    return res;
  });
  TestServer origin(Echo);
  const std::string proxyUrl = "http://127.0.0.1:" + std::to_string(proxy.Port());

  SECTION("http_proxy sends http requests through the proxy in absolute form") {
    setenv("http_proxy", proxyUrl.c_str(), 1);
    CurlHttpClient client;
    auto res = client.Perform(Get("http://idp.gw-test.invalid/token?x=1"));
    ClearProxyEnvironment();
    REQUIRE(res.Ok());
    CHECK(res.Value().body == "via-proxy");
    REQUIRE(proxied.size() == 1);
    CHECK(proxied[0] == "http://idp.gw-test.invalid/token?x=1");
  }
  SECTION("no_proxy bypasses it") {
    setenv("http_proxy", proxyUrl.c_str(), 1);
    setenv("no_proxy", "127.0.0.1", 1);
    CurlHttpClient client;
    auto res = client.Perform(Get(origin.Url("/direct")));
    ClearProxyEnvironment();
    REQUIRE(res.Ok());
    CHECK(res.Value().Header("x-echo-target") == std::optional<std::string>("/direct"));
    CHECK(proxied.empty());
  }
  SECTION("upper-case HTTP_PROXY is ignored by libcurl (httpoxy)") {
    setenv("HTTP_PROXY", proxyUrl.c_str(), 1);
    CurlHttpClient client;
    auto res = client.Perform(Get(origin.Url("/direct")));
    ClearProxyEnvironment();
    REQUIRE(res.Ok());
    CHECK(res.Value().Header("x-echo-target") == std::optional<std::string>("/direct"));
    CHECK(proxied.empty());
  }
}
