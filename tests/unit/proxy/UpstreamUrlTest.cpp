// Path safety of the proxy route: every attack string is refused with PXY-001 and nothing else,
// every legitimate DICOMweb path passes and lands under the base URL.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "gw/proxy/UpstreamUrl.h"

using gw::proxy::QueryParams;
using gw::proxy::UpstreamUrl;

namespace {

const std::string kBase = "https://dicom.example.com/v2/dicomWeb/";

UpstreamUrl Base() {
  auto base = UpstreamUrl::FromBase(kBase);
  REQUIRE(base.Ok());
  return base.Value();
}

const std::string kStudy = "1.2.840.113619.2.55.3.604688119.969.1268071029.320";
const std::string kSeries = "1.2.840.113619.2.55.3.604688119.969.1268071029.321";
const std::string kInstance = "2.25.329800735698586629295641978511506172918";

}  // namespace

TEST_CASE("UpstreamUrl/legitimate DICOMweb paths pass", "[proxy][url]") {
  const std::vector<std::string> paths = {
      "studies",
      "series",
      "instances",
      "studies/" + kStudy,
      "studies/" + kStudy + "/metadata",
      "studies/" + kStudy + "/rendered",
      "studies/" + kStudy + "/thumbnail",
      "studies/" + kStudy + "/series",
      "studies/" + kStudy + "/series/" + kSeries,
      "studies/" + kStudy + "/series/" + kSeries + "/metadata",
      "studies/" + kStudy + "/series/" + kSeries + "/rendered",
      "studies/" + kStudy + "/series/" + kSeries + "/instances",
      "studies/" + kStudy + "/series/" + kSeries + "/instances/" + kInstance,
      "studies/" + kStudy + "/series/" + kSeries + "/instances/" + kInstance + "/metadata",
      "studies/" + kStudy + "/series/" + kSeries + "/instances/" + kInstance + "/rendered",
      "studies/" + kStudy + "/series/" + kSeries + "/instances/" + kInstance + "/frames/1",
      "studies/" + kStudy + "/series/" + kSeries + "/instances/" + kInstance + "/frames/1,2,3",
      "studies/" + kStudy + "/series/" + kSeries + "/instances/" + kInstance + "/frames/1,2,3/rendered",
      "studies/" + kStudy + "/series/" + kSeries + "/instances/" + kInstance + "/bulkdata/7fe00010",
      "studies/" + kStudy + "/series/" + kSeries + "/instances/" + kInstance + "/bulk/00420011",
      "studies/" + kStudy + "/series/" + kSeries + "/instances/" + kInstance + "/pixeldata",
      "bulkdata/d1b2f6c4-71aa-4b9f-9c0e-7e2f8a9b0c1d",
      "workitems",
      "studies/1.2.840.10008",
      "a",
      "x...y",    // dots inside a segment are fine
      "..a",
      "a..",
      "v2_beta~1",
  };
  const UpstreamUrl base = Base();
  for (const auto& path : paths) {
    INFO("path: " << path);
    auto url = base.Resolve(path, QueryParams{});
    REQUIRE(url.Ok());
    CHECK(url.Value() == kBase + path);
    CHECK(url.Value().rfind(kBase, 0) == 0);
  }
}

TEST_CASE("UpstreamUrl/attack paths are refused with PXY-001", "[proxy][url]") {
  const std::vector<std::string> attacks = {
      // empty and dot segments
      "", ".", "..", "...", "./studies", "../studies", "studies/..", "studies/.", "studies/../..",
      "studies/" + kStudy + "/../../admin", "../../../etc/passwd", "a/./b", "a/../b",
      // percent-encoded dots, mixed case, mixed raw/encoded, double encoding
      "%2e%2e/studies", "%2E%2E/studies", "%2e%2E/x", ".%2e/x", "%2e./x", "%2e", "%2E",
      "studies/%2e%2e/%2e%2e/admin", "%252e%252e/x", "%252E%252E/x", "%25252e/x", "studies%2f..%2fadmin",
      // empty segments
      "/studies", "studies/", "studies//series", "//evil.example.com/x", "studies///x",
      // backslashes, raw and encoded
      "studies\\..\\admin", "\\\\evil\\share", "%5c..%5cadmin", "%5C", "..\\x",
      // encoded slashes
      "studies%2f..", "studies%2F1.2", "%2fetc%2fpasswd",
      // userinfo and authorities
      "@evil.example.com/x", "user@evil.example.com", "studies/@x", "%40evil",
      // absolute URIs and schemes in the tail
      "http://evil.example.com/x", "https:/evil", "https:", "file:///etc/passwd", "javascript:alert(1)",
      "//evil.example.com", "http:%2f%2fevil",
      // CR, LF, NUL, raw or encoded
      std::string("studies\r\nHost: evil"), std::string("studies\nx"), std::string("studies\rx"),
      std::string("stu\0dies", 8), "studies%0d%0aX-Injected:%20yes", "studies%0A", "studies%00", "%0d",
      // fragments, queries and other delimiters inside the path
      "studies#frag", "studies%23x", "studies?x=1", "studies;jsessionid=1", "a=b", "a+b", "a&b",
      // whitespace, control characters, non-ASCII
      "studies x", "studies\tx", std::string("studies\x01x"), std::string("studies\x7fx"),
      "stüdies", "studies/\xc0\xae\xc0\xae/x", "studies/\xef\xbc\x8e\xef\xbc\x8e",
      // other punctuation
      "studies/'1'", "studies/\"1\"", "studies/<x>", "studies/{x}", "studies/|x", "studies/`x`",
      "studies/$x", "studies/!x", "studies/*", "studies/(x)", "studies/[x]", "studies/^x",
  };
  const UpstreamUrl base = Base();
  for (const auto& attack : attacks) {
    INFO("attack (hex-escaped length " << attack.size() << "): " << attack);
    auto url = base.Resolve(attack, QueryParams{});
    REQUIRE_FALSE(url.Ok());
    CHECK(url.GetError().code == "PXY-001");
    CHECK(url.GetError().httpStatus == 400);
    // The message names the problem, never the path itself.
    if (attack.size() > 3) CHECK(url.GetError().message.find(attack) == std::string::npos);
  }
}

TEST_CASE("UpstreamUrl/over-long and deep tails are refused", "[proxy][url]") {
  const UpstreamUrl base = Base();
  SECTION("length") {
    std::string tail(UpstreamUrl::kMaxTailBytes, 'a');
    CHECK(base.Resolve(tail, QueryParams{}).Ok());
    tail.push_back('a');
    auto r = base.Resolve(tail, QueryParams{});
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-001");
  }
  SECTION("segments") {
    std::string tail = "a";
    for (size_t i = 1; i < UpstreamUrl::kMaxSegments; ++i) tail += "/a";
    CHECK(base.Resolve(tail, QueryParams{}).Ok());
    tail += "/a";
    CHECK_FALSE(base.Resolve(tail, QueryParams{}).Ok());
  }
}

TEST_CASE("UpstreamUrl/QIDO queries are re-encoded", "[proxy][url]") {
  const UpstreamUrl base = Base();
  auto url = base.Resolve("studies", QueryParams{{"PatientName", "Doe^John*"},
                                                 {"includefield", "00100010,00100020"},
                                                 {"fuzzymatching", "true"},
                                                 {"limit", "10"},
                                                 {"offset", "20"},
                                                 {"StudyDate", "20240101-20241231"},
                                                 {"00100020", "ID 42/7"}});
  REQUIRE(url.Ok());
  CHECK(url.Value() == kBase +
                           "studies?PatientName=Doe%5EJohn%2A&includefield=00100010,00100020&fuzzymatching=true"
                           "&limit=10&offset=20&StudyDate=20240101-20241231&00100020=ID%2042%2F7");
  SECTION("non-ASCII values are percent-encoded as UTF-8") {
    auto u = base.Resolve("studies", QueryParams{{"PatientName", "M\xc3\xbcller"}});
    REQUIRE(u.Ok());
    CHECK(u.Value() == kBase + "studies?PatientName=M%C3%BCller");
  }
  SECTION("delimiters inside values cannot add parameters or a fragment") {
    auto u = base.Resolve("studies", QueryParams{{"PatientID", "1&admin=true#x"}});
    REQUIRE(u.Ok());
    CHECK(u.Value() == kBase + "studies?PatientID=1%26admin%3Dtrue%23x");
  }
  SECTION("no query") {
    auto u = base.Resolve("studies", QueryParams{});
    REQUIRE(u.Ok());
    CHECK(u.Value() == kBase + "studies");
  }
}

TEST_CASE("UpstreamUrl/query attacks are refused", "[proxy][url]") {
  const UpstreamUrl base = Base();
  const std::vector<QueryParams> attacks = {
      {{"PatientName", "x\r\nHost: evil"}},
      {{"PatientName", "x\ny"}},
      {{"PatientName", std::string("x\0y", 3)}},
      {{std::string("a\rb"), "1"}},
      {{"PatientName", "x%0d%0aInjected: 1"}},
      {{"PatientName", "x%0D"}},
      {{"PatientName", "x%00"}},
      {{"PatientName", "x%250d"}},
      {{"PatientName", "x%25250A"}},
      {{"PatientName", std::string("x\x01")}},
      {{"", "value"}},
  };
  for (const auto& q : attacks) {
    auto r = base.Resolve("studies", q);
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-001");
  }
  SECTION("over-long") {
    QueryParams q{{"includefield", std::string(UpstreamUrl::kMaxQueryBytes, 'a')}};
    CHECK_FALSE(base.Resolve("studies", q).Ok());
  }
}

TEST_CASE("UpstreamUrl/raw queries pass through after the checks", "[proxy][url]") {
  const UpstreamUrl base = Base();
  auto ok = base.Resolve("studies", std::string_view("PatientName=Doe%5EJ*&limit=5&includefield=00100010,0020000D"));
  REQUIRE(ok.Ok());
  CHECK(ok.Value() == kBase + "studies?PatientName=Doe%5EJ*&limit=5&includefield=00100010,0020000D");
  for (std::string bad : {"a=%0d", "a=%0A", "a=%00", "a=%250d", "a=b#c", "a=b c", "a=%zz", "a=%2", "a=\x01",
                          "a=\xc3\xbc"}) {
    INFO(bad);
    auto r = base.Resolve("studies", std::string_view(bad));
    REQUIRE_FALSE(r.Ok());
    CHECK(r.GetError().code == "PXY-001");
  }
  CHECK(base.Resolve("studies", std::string_view("")).Value() == kBase + "studies");
}

TEST_CASE("UpstreamUrl/base URL validation", "[proxy][url]") {
  SECTION("trailing slash is added, host:port is derived") {
    auto b = UpstreamUrl::FromBase("http://127.0.0.1:8042/dicom-web");
    REQUIRE(b.Ok());
    CHECK(b.Value().Base() == "http://127.0.0.1:8042/dicom-web/");
    CHECK(b.Value().HostPort() == "127.0.0.1:8042");
    auto c = UpstreamUrl::FromBase("https://healthcare.googleapis.com");
    REQUIRE(c.Ok());
    CHECK(c.Value().Base() == "https://healthcare.googleapis.com/");
    CHECK(c.Value().HostPort() == "healthcare.googleapis.com:443");
    auto v6 = UpstreamUrl::FromBase("http://[::1]:9000/x/");
    REQUIRE(v6.Ok());
    CHECK(v6.Value().HostPort() == "[::1]:9000");
  }
  SECTION("refused bases") {
    for (std::string bad : {"", "dicom.example.com/x", "ftp://h/x", "file:///etc", "https://user:pw@h/x",
                            "https://h/x?a=1", "https://h/x#f", "https://h/x y", "https://h\\x", "https:///x",
                            "https://h:0/", "https://h:70000/", "https://h:abc/", "https://[::1/x", "https://h:/x"}) {
      INFO(bad);
      auto r = UpstreamUrl::FromBase(bad);
      REQUIRE_FALSE(r.Ok());
      CHECK(r.GetError().code == "CFG-002");
    }
  }
}
