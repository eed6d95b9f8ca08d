// The key tables of the parser (ConfigKeys.h) and docs/configuration.md describe the same keys:
// names per object, integer and number ranges, and the defaults (the struct initializers the tables
// write into). A key added to a table and not documented, or documented with another range or
// default, fails here.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "ConfigDocs.h"
#include "ConfigTestSupport.h"
#include "gw/config/ConfigKeys.h"

using namespace gw::config;
using namespace gw::config::test;

namespace {

std::set<std::string> Keys(const std::map<std::string, DocRow>& rows) {
  std::set<std::string> keys;
  for (const auto& [key, row] : rows) keys.insert(key);
  return keys;
}

std::set<std::string> Keys(KeyObject object) {
  const auto& names = KeyNames(object);
  return std::set<std::string>(names.begin(), names.end());
}

// The bounds a type column states: "int 1..1024", "int ≥ 0", "number > 0, ≤ 3600".
struct Bounds {
  std::optional<double> minimum;
  bool exclusive = false;
  std::optional<double> maximum;
};

Bounds DocumentedBounds(const std::string& type) {
  Bounds b;
  std::smatch m;
  if (std::regex_search(type, m, std::regex(R"(([0-9.]+)\.\.([0-9.]+))"))) {
    b.minimum = std::stod(m[1]);
    b.maximum = std::stod(m[2]);
    return b;
  }
  if (std::regex_search(type, m, std::regex("≥ ([0-9.]+)"))) b.minimum = std::stod(m[1]);
  if (std::regex_search(type, m, std::regex("> ([0-9.]+)"))) {
    b.minimum = std::stod(m[1]);
    b.exclusive = true;
  }
  if (std::regex_search(type, m, std::regex("≤ ([0-9.]+)"))) b.maximum = std::stod(m[1]);
  return b;
}

// The documented default when it is a plain value: "`32`", "`1.0`", "`true`"; empty otherwise.
std::string DocumentedDefault(const std::string& cell) {
  std::smatch m;
  if (std::regex_search(cell, m, std::regex(R"(^\s*`(-?[0-9.]+|true|false)`)"))) return m[1];
  return {};
}

// Checks every key of `specs` with a numeric or boolean target against its documented row.
template <class T>
void CheckRangesAndDefaults(const std::vector<KeySpec<T>>& specs, const std::map<std::string, DocRow>& rows,
                            size_t& checked) {
  const T defaults{};
  for (const KeySpec<T>& k : specs) {
    const auto row = rows.find(k.name);
    if (row == rows.end()) continue;  // reported by the name test
    INFO(k.name << ": type `" << row->second.type << "`, default `" << row->second.defaultValue << "`");
    const std::string documented = DocumentedDefault(row->second.defaultValue);
    std::optional<double> value;
    if (auto m = std::get_if<int T::*>(&k.target)) value = defaults.**m;
    if (auto m = std::get_if<double T::*>(&k.target)) value = defaults.**m;
    if (auto m = std::get_if<bool T::*>(&k.target)) {
      if (!documented.empty()) CHECK(documented == (defaults.**m ? "true" : "false"));
      ++checked;
      continue;
    }
    if (k.type == KeyType::Integer || k.type == KeyType::Number) {
      const Bounds b = DocumentedBounds(row->second.type);
      REQUIRE(b.minimum.has_value());  // a numeric key's row states its range
      CHECK(*b.minimum == k.minimum);
      CHECK(b.exclusive == k.minimumExclusive);
      // "int ≥ 1" leaves the table's upper bound (a sanity limit) unstated.
      if (b.maximum) CHECK(*b.maximum == k.maximum);
      if (value && !documented.empty()) CHECK(std::stod(documented) == *value);
      ++checked;
    }
  }
}

}  // namespace

TEST_CASE("Config key tables: docs/configuration.md documents the keys of each table", "[config][keys]") {
  const auto rows = DocumentedRows();
  // The doc's tables were found (a reworded heading must not turn this test into a no-op).
  REQUIRE(rows.count(KeyObject::Section) == 1);
  REQUIRE(rows.count(KeyObject::Audit) == 1);
  REQUIRE(rows.count(KeyObject::Server) == 1);
  REQUIRE(rows.count(KeyObject::Resilience) == 1);

  // The section, Audit and ResilienceConfig tables: the same names on both sides.
  CHECK(Keys(rows.at(KeyObject::Section)) == Keys(KeyObject::Section));
  CHECK(Keys(rows.at(KeyObject::Audit)) == Keys(KeyObject::Audit));
  CHECK(Keys(rows.at(KeyObject::Resilience)) == Keys(KeyObject::Resilience));
  // Servers: the doc lists the gateway's keys and the providers' (their schemas hold those).
  const std::set<std::string> documented = Keys(rows.at(KeyObject::Server));
  for (const std::string& key : KeyNames(KeyObject::Server)) {
    INFO(key);
    CHECK(documented.count(key) == 1);
  }
  // Health has no table of its own: its row names every key.
  const std::string health = HealthRow();
  REQUIRE_FALSE(health.empty());
  for (const std::string& key : KeyNames(KeyObject::Health)) {
    INFO(key);
    CHECK(health.find("`" + key + "`") != std::string::npos);
  }
}

TEST_CASE("Config key tables: documented ranges and defaults are the tables'", "[config][keys]") {
  const auto rows = DocumentedRows();
  REQUIRE(rows.size() == 4);
  size_t checked = 0;
  CheckRangesAndDefaults(SectionKeys(), rows.at(KeyObject::Section), checked);
  CheckRangesAndDefaults(AuditKeys(), rows.at(KeyObject::Audit), checked);
  CheckRangesAndDefaults(ServerKeys(), rows.at(KeyObject::Server), checked);
  CheckRangesAndDefaults(ResilienceKeys(), rows.at(KeyObject::Resilience), checked);
  CHECK(checked > 20);  // the rows were found (31 keys today)
}

TEST_CASE("Config key tables: a key of one table written in another gets a hint from the tables", "[config][keys]") {
  // Every key of every table, written in every other object that has no key of that name.
  const std::vector<KeyObject> objects = {KeyObject::Section, KeyObject::Audit, KeyObject::Health,
                                          KeyObject::Server, KeyObject::Resilience};
  for (KeyObject owner : objects) {
    for (const std::string& key : KeyNames(owner)) {
      for (KeyObject here : objects) {
        const auto& names = KeyNames(here);
        if (here == owner || std::find(names.begin(), names.end(), key) != names.end()) continue;
        if (owner == KeyObject::Audit && (key == "File" || key == "Rules")) continue;  // common words
        INFO(key << " in object " << static_cast<int>(here));
        CHECK_FALSE(Elsewhere(key, "DicomWebOAuth.Servers.s", here).empty());
      }
    }
  }
  CHECK(Elsewhere("NoSuchKey", "DicomWebOAuth", KeyObject::Section).empty());
}

TEST_CASE("Config keys: RedisEncryptionKey is decoded by the shared encoding helpers", "[config][keys][encoding]") {
  const auto parse = [](const std::string& key) {
    return ParseJson(WithServer(BaseServer(), R"("CacheType": "redis", "RedisUrl": "redis://r", "RedisEncryptionKey": ")" +
                                                  key + "\""));
  };
  std::string expected;
  for (int i = 0; i < 10; ++i) expected += "\xfb\xef\xff";
  expected += "\xfe\xff";
  // The same 32 bytes in every accepted form.
  const std::string upperHex = "FBEFFFFBEFFFFBEFFFFBEFFFFBEFFFFBEFFFFBEFFFFBEFFFFBEFFFFBEFFFFEFF";
  std::string lowerHex = upperHex;
  std::transform(lowerHex.begin(), lowerHex.end(), lowerHex.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
  for (const std::string& form : {upperHex, lowerHex,
                                  std::string("++//++//++//++//++//++//++//++//++//++///v8="),
                                  std::string("++//++//++//++//++//++//++//++//++//++///v8"),
                                  std::string("--__--__--__--__--__--__--__--__--__--___v8="),
                                  std::string("--__--__--__--__--__--__--__--__--__--___v8")}) {
    INFO(form);
    const ParseResult r = parse(form);
    INFO(Dump(r.diagnostics));
    REQUIRE(r.Ok());
    CHECK(r.config->global.redisEncryptionKey == expected);
  }
  // 31 bytes, a character outside both alphabets, 63 hex digits: refused with the key's message.
  for (const std::string& bad : {std::string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="),
                                 std::string("++//++//++//++//++//++//++//++//++//++//*v8="),
                                 std::string(63, 'a')}) {
    INFO(bad);
    const ParseResult r = parse(bad);
    const Diagnostic* d = Find(r.diagnostics, "CFG-002", "DicomWebOAuth.RedisEncryptionKey");
    REQUIRE(d != nullptr);
    CHECK(d->message.find("256-bit key") != std::string::npos);
    CHECK_FALSE(r.Ok());
  }
}
