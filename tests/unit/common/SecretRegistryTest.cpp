#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "gw/common/SecretRegistry.h"

using namespace gw;

namespace {

// A secret with every kind of character the encodings treat differently: '+', '/', a space, '~',
// '"', '\', a non-ASCII letter and '*'. The expected spellings below were made with Python's
// urllib.parse, json and base64 modules, not with the code under test.
const std::string kSecret = "Sec+ret/ 42~\"x\\\xC3\xA9*";

// Clears the registry at both ends, so tests do not see each other's secrets.
struct CleanRegistry {
  CleanRegistry() { SecretRegistry::Clear(); }
  ~CleanRegistry() { SecretRegistry::Clear(); }
};

}  // namespace

TEST_CASE("Hardening: masking knows the encoded forms of a secret an IdP echoes back", "[secrets]") {
  const CleanRegistry clean;
  SecretRegistry::Add(kSecret);
  const std::vector<std::pair<const char*, std::string>> spellings = {
      {"literal", kSecret},
      {"form, '+' for space (quote_plus)", "Sec%2Bret%2F+42~%22x%5C%C3%A9%2A"},
      {"percent, %20 for space (quote)", "Sec%2Bret%2F%2042~%22x%5C%C3%A9%2A"},
      {"percent, lower-case hex", "Sec%2bret%2f%2042~%22x%5c%c3%a9%2a"},
      {"form, lower-case hex", "Sec%2bret%2f+42~%22x%5c%c3%a9%2a"},
      {"WHATWG form (* kept, ~ escaped)", "Sec%2Bret%2F+42%7E%22x%5C%C3%A9*"},
      {"JSON, shortest", R"(Sec+ret/ 42~\"x\\)" "\xC3\xA9*"},
      {"JSON, ASCII only (json.dumps)", R"(Sec+ret/ 42~\"x\\\u00e9*)"},
      {"JSON, ASCII only, upper hex", R"(Sec+ret/ 42~\"x\\\u00E9*)"},
      {"JSON, slash escaped", R"(Sec+ret\/ 42~\"x\\)" "\xC3\xA9*"},
      {"base64", "U2VjK3JldC8gNDJ+Inhcw6kq"},
      {"base64url", "U2VjK3JldC8gNDJ-Inhcw6kq"},
  };
  for (const auto& [what, spelling] : spellings) {
    INFO(what);
    const std::string echoed = "{\"error\":\"invalid_client\",\"error_description\":\"got " + spelling + " here\"}";
    const std::string masked = SecretRegistry::Redact(echoed);
    CHECK(masked.find(spelling) == std::string::npos);
    CHECK(masked.find("***") != std::string::npos);
    CHECK(masked.find("invalid_client") != std::string::npos);  // ordinary text is kept
  }
}

TEST_CASE("Hardening: masking finds a secret inside a longer base64 text at any offset", "[secrets]") {
  const CleanRegistry clean;
  SecretRegistry::Add(kSecret);
  // base64 of 'P' * prefix + secret + 'Q' * suffix (Python's base64.b64encode).
  const char* encodings[] = {
      "U2VjK3JldC8gNDJ+Inhcw6kq",         "U2VjK3JldC8gNDJ+Inhcw6kqUQ==",     "U2VjK3JldC8gNDJ+Inhcw6kqUVE=",
      "UFNlYytyZXQvIDQyfiJ4XMOpKg==",     "UFNlYytyZXQvIDQyfiJ4XMOpKlE=",     "UFNlYytyZXQvIDQyfiJ4XMOpKlFR",
      "UFBTZWMrcmV0LyA0Mn4ieFzDqSo=",     "UFBTZWMrcmV0LyA0Mn4ieFzDqSpR",     "UFBTZWMrcmV0LyA0Mn4ieFzDqSpRUQ==",
      "UFBQU2VjK3JldC8gNDJ+Inhcw6kq",     "UFBQU2VjK3JldC8gNDJ+Inhcw6kqUQ==", "UFBQU2VjK3JldC8gNDJ+Inhcw6kqUVE=",
      "UFBQUFNlYytyZXQvIDQyfiJ4XMOpKg==", "UFBQUFNlYytyZXQvIDQyfiJ4XMOpKlE=", "UFBQUFNlYytyZXQvIDQyfiJ4XMOpKlFR",
      "UFBQUFBTZWMrcmV0LyA0Mn4ieFzDqSo=", "UFBQUFBTZWMrcmV0LyA0Mn4ieFzDqSpR", "UFBQUFBTZWMrcmV0LyA0Mn4ieFzDqSpRUQ==",
  };
  for (const char* encoded : encodings) {
    INFO(encoded);
    const std::string original(encoded);
    const std::string masked = SecretRegistry::Redact(original);
    REQUIRE(masked.find("***") != std::string::npos);
    // The secret's 18 bytes take 24 characters; at most the two characters at each edge that
    // mix in a neighbour's bits stay visible.
    CHECK(original.size() - (masked.size() - 3) >= 24 - 4);
  }
}

TEST_CASE("Hardening: the Basic credential of a client secret is masked whole", "[secrets]") {
  const CleanRegistry clean;
  SecretRegistry::Add(kSecret);
  // base64("gateway-client:" + quote_plus(secret)): the header client_secret_basic sends.
  const std::string header = "Authorization: Basic Z2F0ZXdheS1jbGllbnQ6U2VjJTJCcmV0JTJGKzQyfiUyMnglNUMlQzMlQTklMkE=";
  SECTION("the secret alone hides the part of the credential that encodes it") {
    const std::string masked = SecretRegistry::Redact(header);
    CHECK(masked.find("JTJCcmV0JTJGKzQyfiUyMnglNUMlQzMlQTklMkE") == std::string::npos);
    CHECK(masked.find("***") != std::string::npos);
  }
  SECTION("the registered credential hides the whole header value") {
    SecretRegistry::AddBasicCredential("gateway-client", "Sec%2Bret%2F+42~%22x%5C%C3%A9%2A");
    CHECK(SecretRegistry::Redact(header) == "Authorization: Basic ***");
    CHECK(SecretRegistry::Redact("gateway-client:Sec%2Bret%2F+42~%22x%5C%C3%A9%2A").find("gateway-client") ==
          std::string::npos);
  }
}

TEST_CASE("SecretRegistry/overlapping secrets are masked as one", "[secrets]") {
  const CleanRegistry clean;
  SecretRegistry::Add("overlap-secret-AAAA");
  SecretRegistry::Add("AAAA-tail-secret");
  // Masking one first must not leave the other's tail in clear.
  CHECK(SecretRegistry::Redact("x overlap-secret-AAAA-tail-secret y") == "x *** y");
  CHECK(SecretRegistry::Redact("AAAA-tail-secret overlap-secret-AAAA") == "*** ***");
  CHECK(SecretRegistry::Redact("") == "");
  CHECK(SecretRegistry::Redact("no secret here") == "no secret here");
}

TEST_CASE("SecretRegistry/removing a secret removes its derived forms", "[secrets]") {
  const CleanRegistry clean;
  SecretRegistry::Add(kSecret);
  SecretRegistry::Add("other-secret-value");
  CHECK(SecretRegistry::Redact("U2VjK3JldC8gNDJ+Inhcw6kq") == "***");
  SecretRegistry::Remove(kSecret);
  CHECK(SecretRegistry::Redact("U2VjK3JldC8gNDJ+Inhcw6kq") == "U2VjK3JldC8gNDJ+Inhcw6kq");
  CHECK(SecretRegistry::Redact("Sec%2Bret%2F+42") == "Sec%2Bret%2F+42");
  CHECK(SecretRegistry::Redact("x other-secret-value y") == "x *** y");
  // base64("other-secret-value"), still masked: only the removed secret's forms went away.
  CHECK(SecretRegistry::Redact("b3RoZXItc2VjcmV0LXZhbHVl") == "***");
}

TEST_CASE("SecretRegistry/short values and ordinary text are left alone", "[secrets]") {
  const CleanRegistry clean;
  SecretRegistry::Add("abc");
  SecretRegistry::AddBasicCredential("a", "b");
  CHECK(SecretRegistry::Redact("abc a:b YWJj") == "abc a:b YWJj");
  SecretRegistry::Add("plain-secret-1");
  CHECK(SecretRegistry::Redact("token endpoint answered 400 error=invalid_client") ==
        "token endpoint answered 400 error=invalid_client");
  // Every derived form is at least 6 characters long, the literal first.
  const auto forms = SecretRegistry::DerivedForms("plain-secret-1");
  REQUIRE_FALSE(forms.empty());
  CHECK(forms.front() == "plain-secret-1");
  for (const auto& f : forms) CHECK(f.size() >= 6);
  CHECK(SecretRegistry::DerivedForms("short").empty());
}
