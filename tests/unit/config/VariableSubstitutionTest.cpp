#include <cstdlib>

#include "ConfigTestSupport.h"

using namespace gw::config;
using namespace gw::config::test;

namespace {

std::string Sub(const std::string& text, std::map<std::string, std::string> env = {}) {
  return VariableSubstitution::Substitute(text, FakeEnv(std::move(env))).text;
}

}  // namespace

TEST_CASE("VariableSubstitution/forms as Orthanc 1.10 reads them", "[config][variables]") {
  SECTION("${NAME}: value when set, empty string when unset") {
    CHECK(Sub("a${X}b", {{"X", "1"}}) == "a1b");
    CHECK(Sub("a${X}b") == "ab");
    CHECK(Sub("${X}", {{"X", ""}}).empty());
  }
  SECTION("${NAME:-default}: default only when unset") {
    CHECK(Sub("${X:-fall back}") == "fall back");
    CHECK(Sub("${X:-fall back}", {{"X", "v"}}) == "v");
    CHECK(Sub("${X:-fall back}", {{"X", ""}}).empty());  // set but empty wins over the default
    CHECK(Sub("${X:-}").empty());
  }
  SECTION("quoted defaults drop their quotes") {
    CHECK(Sub(R"(${X:-"a b"})") == "a b");
    CHECK(Sub("${X:-'a b'}") == "a b");
    CHECK(Sub(R"(${X:-"a b"})", {{"X", "v"}}) == "v");
  }
  SECTION("anything else starting with ${ stays as written") {
    CHECK(Sub(R"(${X:-a"b})") == R"(${X:-a"b})");
    CHECK(Sub("${X") == "${X");
    CHECK(Sub("${X:y}") == "${X:y}");
    CHECK(Sub("$X and $") == "$X and $");
  }
  SECTION("several references, and references inside comments, are all replaced") {
    CHECK(Sub("${A}-${B}-${A}", {{"A", "1"}, {"B", "2"}}) == "1-2-1");
    CHECK(Sub("// ${A}\n", {{"A", "1"}}) == "// 1\n");
  }
  SECTION("the value is inserted verbatim, like Orthanc (a quote can break the JSON)") {
    CHECK(Sub(R"({"k": "${A}"})", {{"A", R"(x"y)"}}) == R"({"k": "x"y"})");
  }
}

TEST_CASE("VariableSubstitution/records each reference", "[config][variables]") {
  const SubstitutionResult r =
      VariableSubstitution::Substitute("${SET}${UNSET}${EMPTY}${DEF:-d}${DEFEMPTY:-}",
                                       FakeEnv({{"SET", "v"}, {"EMPTY", ""}}));
  REQUIRE(r.matches.size() == 5);
  CHECK(r.matches[0].use.name == "SET");
  CHECK(r.matches[0].use.set);
  CHECK_FALSE(r.matches[0].use.resultEmpty);
  CHECK(r.matches[0].offset == 0);
  CHECK(r.matches[0].length == 6);
  CHECK_FALSE(r.matches[1].use.set);
  CHECK(r.matches[1].use.resultEmpty);
  CHECK(r.matches[2].use.set);
  CHECK(r.matches[2].use.resultEmpty);
  CHECK(r.matches[3].use.hasDefault);
  CHECK_FALSE(r.matches[3].use.resultEmpty);
  CHECK(r.matches[4].use.hasDefault);
  CHECK(r.matches[4].use.resultEmpty);
  CHECK(r.emptyNames.empty());
}

TEST_CASE("VariableSubstitution/empty names are reported (Orthanc refuses them)", "[config][variables]") {
  const SubstitutionResult r = VariableSubstitution::Substitute("a ${} b ${:-x}", FakeEnv({}));
  REQUIRE(r.emptyNames.size() == 2);
  CHECK(r.emptyNames[0] == 2);
  CHECK(r.emptyNames[1] == 8);
}

TEST_CASE("VariableSubstitution/maps references to JSON paths", "[config][variables]") {
  const std::string raw = R"({
    // ${IN_COMMENT} is not a value
    "DicomWebOAuth": {
      "Servers": {
        "azure": { "ClientSecret": "${AZ_SECRET}", "Url": "https://${HOST}/x/${PATH}" },
        "k.v": { "Timeout": ${TIMEOUT}, "Esc": "a\"${ESC}" }
      },
      "EnvAllowlist": ["A", "${ITEM}"],
      "${IN_KEY}": 1
    },
    /* ${IN_BLOCK} */
    "HttpPort": ${PORT:-8042}
  })";
  const VariableMap map = VariableSubstitution::Scan(raw, FakeEnv({{"HOST", "h"}}));
  auto names = [&](const std::string& path) {
    std::vector<std::string> out;
    for (const auto& use : map.At(path)) out.push_back(use.name);
    return out;
  };
  CHECK(names("DicomWebOAuth.Servers.azure.ClientSecret") == std::vector<std::string>{"AZ_SECRET"});
  CHECK(names("DicomWebOAuth.Servers.azure.Url") == std::vector<std::string>{"HOST", "PATH"});
  CHECK(names("DicomWebOAuth.Servers.k.v.Timeout") == std::vector<std::string>{"TIMEOUT"});
  CHECK(names("DicomWebOAuth.Servers.k.v.Esc") == std::vector<std::string>{"ESC"});
  CHECK(names("DicomWebOAuth.EnvAllowlist[1]") == std::vector<std::string>{"ITEM"});
  CHECK(names("HttpPort") == std::vector<std::string>{"PORT"});
  CHECK(map.At("DicomWebOAuth.Servers.azure.Url")[0].set);
  CHECK_FALSE(map.At("DicomWebOAuth.Servers.azure.ClientSecret")[0].set);
  // Nothing recorded for comments or key names.
  CHECK(names("").empty());
  CHECK(names("DicomWebOAuth").empty());
  CHECK(names("DicomWebOAuth.${IN_KEY}").empty());
}

TEST_CASE("VariableSubstitution/process environment", "[config][variables]") {
  ::setenv("GW_CONFIG_TEST_PROCESS_ENV", "from-process", 1);
  ::unsetenv("GW_CONFIG_TEST_PROCESS_UNSET");
  const EnvLookup env = ProcessEnvironment();
  CHECK(env("GW_CONFIG_TEST_PROCESS_ENV") == std::optional<std::string>("from-process"));
  CHECK_FALSE(env("GW_CONFIG_TEST_PROCESS_UNSET").has_value());
  ::unsetenv("GW_CONFIG_TEST_PROCESS_ENV");
}
