#include <catch2/catch.hpp>

#include "gw/config/HttpUrl.h"

using namespace gw::config;

TEST_CASE("HttpUrl/parses absolute http and https URLs", "[config][url]") {
  auto url = ParseHttpUrl("HTTPS://Login.MicrosoftOnline.COM./tenant/oauth2/v2.0/token?x=1");
  REQUIRE(url);
  CHECK(url->scheme == "https");
  CHECK(url->host == "login.microsoftonline.com");
  CHECK(url->port == 443);
  CHECK(url->path == "/tenant/oauth2/v2.0/token");
  CHECK(url->query == "x=1");

  url = ParseHttpUrl("http://127.0.0.1:8042");
  REQUIRE(url);
  CHECK(url->port == 8042);
  CHECK(url->path == "/");
  CHECK(url->IsLoopback());

  url = ParseHttpUrl("http://[::1]:8080/dicom-web/");
  REQUIRE(url);
  CHECK(url->host == "::1");
  CHECK(url->IsLoopback());
  CHECK_FALSE(ParseHttpUrl("https://dicom.example.com/")->IsLoopback());
  CHECK_FALSE(ParseHttpUrl("https://127.example.com/")->IsLoopback());
}

TEST_CASE("HttpUrl/rejects what is not a plain absolute http(s) URL", "[config][url]") {
  const std::vector<std::pair<std::string, UrlProblem>> cases = {
      {"dicom.example.com/v2", UrlProblem::NotAbsoluteHttp},
      {"ftp://dicom.example.com/", UrlProblem::NotAbsoluteHttp},
      {"", UrlProblem::NotAbsoluteHttp},
      {"https:///path", UrlProblem::EmptyHost},
      {"https://host:0/", UrlProblem::BadPort},
      {"https://host:65536/", UrlProblem::BadPort},
      {"https://host:/", UrlProblem::BadPort},
      {"https://host:8a/", UrlProblem::BadPort},
      {"https://user:pw@host/", UrlProblem::UserInfo},
      {"https://host/a#frag", UrlProblem::Fragment},
      {"https://host/a b", UrlProblem::InvalidCharacter},
      {"https://host\\evil/", UrlProblem::InvalidCharacter},
      {"https://ho$t/", UrlProblem::InvalidCharacter},
      {"https://host/\r\nX: y", UrlProblem::InvalidCharacter},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    UrlProblem problem = UrlProblem::None;
    CHECK_FALSE(ParseHttpUrl(text, &problem).has_value());
    CHECK(problem == expected);
    CHECK(std::string(Describe(problem)).find(text.empty() ? "\x01" : text) == std::string::npos);
  }
}
