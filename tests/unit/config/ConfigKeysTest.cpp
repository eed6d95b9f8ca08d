// No configuration key that does nothing (issue "Operate it"): every key docs/configuration.md
// documents is read by the parser, or read by the provider scripts it is documented for, or
// reported as accepted-for-compatibility with a warning; and keys written in the wrong object
// (retry and circuit keys on the server instead of its ResilienceConfig...) are reported with a
// hint instead of being lost.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "ConfigDocs.h"
#include "ConfigTestSupport.h"

using namespace gw::config;
using namespace gw::config::test;

namespace {

enum class Place { Section, Audit, Server, Resilience };

struct DocumentedKey {
  std::string key;
  Place place;
};

std::string ReadText(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The keys of the key tables of docs/configuration.md (ConfigDocs.h), with the object each is in.
std::vector<DocumentedKey> DocumentedKeys() {
  const std::map<KeyObject, Place> places = {{KeyObject::Section, Place::Section}, {KeyObject::Audit, Place::Audit},
                                             {KeyObject::Server, Place::Server}, {KeyObject::Resilience, Place::Resilience}};
  std::vector<DocumentedKey> keys;
  for (const auto& [object, rows] : DocumentedRows()) {
    for (const auto& [key, row] : rows) keys.push_back({key, places.at(object)});
  }
  return keys;
}

// Servers of each shipped provider: a key a provider script reads is probed on a server of that
// provider (the client-credentials server first), so it is judged where it is meant to be used.
const std::vector<std::string> kProviderServers = {
    BaseServer(),
    R"({"Url": "https://ws-dicom.dicom.azurehealthcareapis.com/v2/", "ProviderType": "azuremanagedidentity"})",
    R"({"Url": "https://dicom-medical-imaging.us-east-1.amazonaws.com/datastore/0123/", "ProviderType": "aws"})",
    R"({"Url": "https://healthcare.googleapis.com/v1/", "ProviderType": "google"})",
    R"({"Url": "https://dicom.example.com/", "ProviderType": "file", "TokenFile": "/run/gw-token"})",
    R"({"Url": "https://dicom.example.com/", "ProviderType": "static", "Token": "static-token-value"})"};

// `server` (JSON text of an object) with `member` added.
std::string Plus(const std::string& server, const std::string& member) {
  return server.substr(0, server.rfind('}')) + ", " + member + "}";
}

// A configuration with `key` set to `value` where it belongs (on `server` for server and
// ResilienceConfig keys), and that key's JSON path.
std::pair<std::string, std::string> WithKey(const DocumentedKey& k, const std::string& value,
                                            const std::string& server = BaseServer()) {
  const std::string member = "\"" + k.key + "\": " + value;
  switch (k.place) {
    case Place::Section:
      if (k.key == "Servers") return {R"({"DicomWebOAuth": {)" + member + "}}", "DicomWebOAuth.Servers"};
      return {WithServer(BaseServer(), member), "DicomWebOAuth." + k.key};
    case Place::Audit:
      return {WithServer(BaseServer(), R"("Audit": {"File": "/tmp/gw-audit.jsonl", )" + member + "}"),
              "DicomWebOAuth.Audit." + k.key};
    case Place::Server:
      return {WithServer(Plus(server, member)), "DicomWebOAuth.Servers.s." + k.key};
    case Place::Resilience:
      return {WithServer(Plus(server, R"("ResilienceConfig": {)" + member + "}")),
              "DicomWebOAuth.Servers.s.ResilienceConfig." + k.key};
  }
  return {};
}

bool At(const Diagnostic& d, const std::string& path) {
  return d.path == path || d.path.rfind(path + "[", 0) == 0 || d.path.rfind(path + ".", 0) == 0;
}

// Whether a provider script (or a library they share) mentions `key`: the keys the parser passes
// through to the scripts untouched are read there (docs/providers/).
bool ReadByProviderScripts(const std::string& key) {
  namespace fs = std::filesystem;
  for (const char* dir : {"/lua/providers", "/lua/lib"}) {
    for (const auto& entry : fs::recursive_directory_iterator(std::string(GW_SOURCE_DIR) + dir)) {
      if (entry.is_regular_file() && entry.path().extension() == ".lua" &&
          ReadText(entry.path()).find(key) != std::string::npos) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

TEST_CASE("Config keys: every documented key is read, or warned about", "[config][keys]") {
  const std::vector<DocumentedKey> keys = DocumentedKeys();
  // The doc's tables were found (a reworded heading must not turn this test into a no-op).
  REQUIRE(keys.size() > 80);
  std::set<Place> places;
  for (const auto& k : keys) places.insert(k.place);
  REQUIRE(places.size() == 4);

  for (const auto& k : keys) {
    std::string why;  // what the last probe showed, for the failure message
    bool read = false;
    const auto& servers = k.place == Place::Server ? kProviderServers : std::vector<std::string>{BaseServer()};
    for (const std::string& server : servers) {
      // A value no key accepts (an array holding an array): a key the parser reads is refused at its path.
      const auto [text, path] = WithKey(k, "[[]]", server);
      const ParseResult r = ParseJson(text);
      why = path + " on " + server + "\n" + Dump(r.diagnostics);
      if (Find(r.diagnostics, "CFG-004", path) != nullptr) continue;  // "unknown key" here
      if (std::any_of(r.diagnostics.begin(), r.diagnostics.end(),
                      [&](const Diagnostic& d) { return d.code != "CFG-004" && At(d, path); })) {
        read = true;
        break;
      }
      // Not checked by the parser: a server key handed, as written, to the provider script that reads it.
      const auto s = r.bestEffort.servers.find("s");
      if (k.place == Place::Server && s != r.bestEffort.servers.end() && s->second.raw &&
          s->second.raw->HasMember(k.key.c_str()) && ReadByProviderScripts(k.key)) {
        read = true;
        break;
      }
    }
    INFO(why);
    CHECK(read);
  }
}

TEST_CASE("Config keys: ConfigVersion is accepted for compatibility with a warning", "[config][keys]") {
  const ParseResult r = ParseJson(WithServer(BaseServer(), R"("ConfigVersion": "2.0")"));
  REQUIRE(r.config.has_value());
  const Diagnostic* d = Find(r.diagnostics, "CFG-006", "DicomWebOAuth.ConfigVersion");
  REQUIRE(d != nullptr);
  CHECK(d->severity == Severity::Warning);
  CHECK(d->message.find("compatibility") != std::string::npos);
}

TEST_CASE("Config keys: the rate limit keys reach the configuration", "[config][keys]") {
  const ParseResult r = ParseJson(WithServer(BaseServer(), R"("RateLimitRequests": 7, "RateLimitWindowSeconds": 9)"));
  REQUIRE(r.config.has_value());
  CHECK(r.config->global.rateLimitRequests == 7);
  CHECK(r.config->global.rateLimitWindowSeconds == 9);
}

TEST_CASE("Config keys: retry and circuit keys on the server were silently ignored", "[config][keys]") {
  const ParseResult r =
      ParseJson(WithServer(BaseServer(R"("RetryMaxAttempts": 7, "CircuitBreakerEnabled": false)")));
  INFO(Dump(r.diagnostics));
  REQUIRE(r.config.has_value());  // a warning: the configuration still loads
  const Diagnostic* d = Find(r.diagnostics, "CFG-004", "DicomWebOAuth.Servers.s.RetryMaxAttempts");
  REQUIRE(d != nullptr);
  CHECK(d->severity == Severity::Warning);
  CHECK(d->message.find("misplaced key") != std::string::npos);
  CHECK(d->message.find("DicomWebOAuth.Servers.s.ResilienceConfig.RetryMaxAttempts") != std::string::npos);
  CHECK(Find(r.diagnostics, "CFG-004", "DicomWebOAuth.Servers.s.CircuitBreakerEnabled") != nullptr);
  // Ignored indeed: the defaults stay.
  CHECK(r.config->servers.at("s").resilience.retryMaxAttempts == ResilienceConfig().retryMaxAttempts);
}

TEST_CASE("Config keys: misplaced keys on a server with a custom provider are reported too", "[config][keys]") {
  const ParseResult r = ParseJson(
      WithServer(R"({"Url": "https://dicom.example.com/", "Provider": "custom_thing", "MyOwnKey": 1,
                    "RetryMaxAttempts": 2, "RateLimitRequests": 5})"));
  INFO(Dump(r.diagnostics));
  CHECK(Find(r.diagnostics, "CFG-004", "DicomWebOAuth.Servers.s.MyOwnKey") == nullptr);  // the script's own
  const Diagnostic* retry = Find(r.diagnostics, "CFG-004", "DicomWebOAuth.Servers.s.RetryMaxAttempts");
  REQUIRE(retry != nullptr);
  CHECK(retry->message.find("ResilienceConfig") != std::string::npos);
  const Diagnostic* limit = Find(r.diagnostics, "CFG-004", "DicomWebOAuth.Servers.s.RateLimitRequests");
  REQUIRE(limit != nullptr);
  CHECK(limit->message.find("section itself, for every server: DicomWebOAuth.RateLimitRequests") != std::string::npos);
}

TEST_CASE("Config keys: keys of one object written in another get a hint", "[config][keys]") {
  const ParseResult r = ParseJson(WithServer(
      BaseServer(R"("RateLimitRequests": 5, "ChainKey": "x", "ProbeUser": "probe")"),
      R"("RetryStrategy": "fixed", "TokenEndpoint": "https://idp.example.com/token")"));
  INFO(Dump(r.diagnostics));
  const auto hint = [&](const std::string& path, const std::string& text) {
    const Diagnostic* d = Find(r.diagnostics, "CFG-004", path);
    return d != nullptr && d->message.find(text) != std::string::npos;
  };
  CHECK(hint("DicomWebOAuth.RetryStrategy", "DicomWebOAuth.Servers.<name>.ResilienceConfig.RetryStrategy"));
  CHECK(hint("DicomWebOAuth.TokenEndpoint", "is a server key: it belongs in DicomWebOAuth.Servers.<name>.TokenEndpoint"));
  CHECK(hint("DicomWebOAuth.Servers.s.RateLimitRequests", "DicomWebOAuth.RateLimitRequests"));
  CHECK(hint("DicomWebOAuth.Servers.s.ChainKey", "DicomWebOAuth.Audit.ChainKey"));
  CHECK(hint("DicomWebOAuth.Servers.s.ProbeUser", "DicomWebOAuth.Health.ProbeUser"));
  // A plain typo still gets its closest key.
  const ParseResult typo = ParseJson(WithServer(BaseServer(R"("clientSecret": "x")")));
  const Diagnostic* d = Find(typo.diagnostics, "CFG-004", "DicomWebOAuth.Servers.s.clientSecret");
  REQUIRE(d != nullptr);
  CHECK(d->message.find("did you mean `ClientSecret`") != std::string::npos);
}

TEST_CASE("Config keys: JWTAlgorithms is validated", "[config][keys][jwt]") {
  const std::string key = R"("JWTPublicKey": "-----BEGIN PUBLIC KEY-----", )";
  const auto parse = [&](const std::string& list) { return ParseJson(WithServer(BaseServer(key + list))); };
  const std::string p = "DicomWebOAuth.Servers.s.JWTAlgorithms";

  SECTION("listed algorithms the gateway verifies are kept, once") {
    const ParseResult r = parse(R"("JWTAlgorithms": ["ES256", "RS256", "ES256"])");
    INFO(Dump(r.diagnostics));
    REQUIRE(r.config.has_value());
    CHECK(r.config->servers.at("s").jwtAlgorithms == std::vector<std::string>{"ES256", "RS256"});
    CHECK(r.diagnostics.empty());
  }
  SECTION("none is an error, in any case") {
    const ParseResult r = parse(R"("JWTAlgorithms": ["RS256", "None"])");
    CHECK_FALSE(r.config.has_value());
    REQUIRE(Find(r.diagnostics, "CFG-002", p + "[1]") != nullptr);
    CHECK(Find(r.diagnostics, "CFG-002", p + "[1]")->message.find("never accepted") != std::string::npos);
  }
  SECTION("an unknown name is an error, a wrong case gets a hint") {
    const ParseResult r = parse(R"("JWTAlgorithms": ["rs256", "SHA256"])");
    CHECK_FALSE(r.config.has_value());
    REQUIRE(Find(r.diagnostics, "CFG-002", p + "[0]") != nullptr);
    CHECK(Find(r.diagnostics, "CFG-002", p + "[0]")->message.find("did you mean `RS256`") != std::string::npos);
    CHECK(Find(r.diagnostics, "CFG-002", p + "[1]") != nullptr);
  }
  SECTION("other JOSE algorithms are warned about; with nothing usable left it is an error") {
    const ParseResult mixed = parse(R"("JWTAlgorithms": ["RS256", "HS256", "PS256"])");
    REQUIRE(mixed.config.has_value());
    CHECK(mixed.config->servers.at("s").jwtAlgorithms == std::vector<std::string>{"RS256"});
    REQUIRE(Find(mixed.diagnostics, "CFG-006", p + "[1]") != nullptr);
    CHECK(Find(mixed.diagnostics, "CFG-006", p + "[1]")->message.find("HMAC") != std::string::npos);
    CHECK(Find(mixed.diagnostics, "CFG-006", p + "[2]") != nullptr);
    const ParseResult none = parse(R"("JWTAlgorithms": ["HS256"])");
    CHECK_FALSE(none.config.has_value());
    CHECK(Find(none.diagnostics, "CFG-002", p) != nullptr);
  }
  SECTION("an empty list keeps the default, with a warning; no key to verify with: no effect") {
    const ParseResult empty = parse(R"("JWTAlgorithms": [])");
    REQUIRE(empty.config.has_value());
    CHECK(empty.config->servers.at("s").jwtAlgorithms.empty());
    CHECK(Find(empty.diagnostics, "CFG-006", p) != nullptr);
    const ParseResult unused = ParseJson(WithServer(BaseServer(R"("JWTAlgorithms": ["RS256"])")));
    REQUIRE(unused.config.has_value());
    REQUIRE(Find(unused.diagnostics, "CFG-006", p) != nullptr);
    CHECK(Find(unused.diagnostics, "CFG-006", p)->message.find("no effect") != std::string::npos);
    // An empty JWTPublicKey (a Python configuration's placeholder) verifies nothing either.
    const ParseResult blank = ParseJson(WithServer(BaseServer(R"("JWTPublicKey": "", "JWTAlgorithms": ["RS256"])")));
    CHECK(Find(blank.diagnostics, "CFG-006", p) != nullptr);
  }
}
