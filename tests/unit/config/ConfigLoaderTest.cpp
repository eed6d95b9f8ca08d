#include <filesystem>

#include "ConfigTestSupport.h"
#include "support/SmallStack.h"

using namespace gw::config;
using namespace gw::config::test;

TEST_CASE("ConfigLoader/one file with comments and trailing commas", "[config][loader]") {
  const LoadResult loaded = ConfigLoader::Load(Fixture("comments.json"), FakeEnv({}));
  INFO(Dump(loaded.diagnostics));
  REQUIRE(loaded.Ok());
  CHECK(loaded.diagnostics.empty());
  CHECK(loaded.baseDirectory == std::filesystem::path(FixtureDir()).lexically_normal().string());
  CHECK(loaded.files == std::vector<std::string>{Fixture("comments.json")});
  const ParseResult parsed = ConfigParser::Parse(*loaded.document, TestOptions());
  INFO(Dump(parsed.diagnostics));
  REQUIRE(parsed.Ok());
  CHECK(RawString(parsed.config->servers.at("local"), "ClientSecret") == "not-a-real-secret-comments");
}

TEST_CASE("ConfigLoader/CFG-005 invalid JSON names line and column", "[config][loader]") {
  const LoadResult loaded = ConfigLoader::Load(Fixture("invalid-json.json"), FakeEnv({}));
  CHECK_FALSE(loaded.Ok());
  CHECK(loaded.document == nullptr);
  REQUIRE(loaded.diagnostics.size() == 1);
  const Diagnostic& d = loaded.diagnostics[0];
  CHECK(d.code == "CFG-005");
  CHECK(d.severity == Severity::Error);
  CHECK(d.path == Fixture("invalid-json.json"));
  CHECK(d.message.find("line 5, column 7") != std::string::npos);
}

TEST_CASE("ConfigLoader/CFG-005 missing path and non-object root", "[config][loader]") {
  const LoadResult missing = ConfigLoader::Load(Fixture("does-not-exist.json"), FakeEnv({}));
  REQUIRE(missing.diagnostics.size() == 1);
  CHECK(missing.diagnostics[0].code == "CFG-005");
  CHECK(missing.diagnostics[0].message.find("no such file") != std::string::npos);
  CHECK_FALSE(missing.Ok());

  TempDir dir;
  const LoadResult array = ConfigLoader::Load(dir.Write("a.json", "[1, 2]"), FakeEnv({}));
  REQUIRE(array.diagnostics.size() == 1);
  CHECK(array.diagnostics[0].code == "CFG-005");
  CHECK(array.diagnostics[0].message.find("JSON object") != std::string::npos);
  CHECK_FALSE(array.Ok());
}

TEST_CASE("Hardening: a configuration nested a thousand levels deep is CFG-005, not a stack overflow",
          "[config][loader][hardening]") {
  TempDir dir;
  const std::string deep = "{\n \"DicomWebOAuth\": " + std::string(1000, '[') + std::string(1000, ']') + "\n}";
  const std::string path = dir.Write("deep.json", deep);
  gw::test::RunOnSmallStack(64 * 1024, [&] {
    const LoadResult loaded = ConfigLoader::Load(path, FakeEnv({}));
    CHECK_FALSE(loaded.Ok());
    REQUIRE(loaded.diagnostics.size() == 1);
    CHECK(loaded.diagnostics[0].code == "CFG-005");
    CHECK(loaded.diagnostics[0].message.find("line 2, column") != std::string::npos);
    CHECK(loaded.diagnostics[0].message.find("nested deeper than 64 levels") != std::string::npos);
  });
}

TEST_CASE("ConfigLoader/folder: *.json files merged at top level", "[config][loader]") {
  const LoadResult loaded =
      ConfigLoader::Load(Fixture("dir-merge"), FakeEnv({{"GW_FIXTURE_CLOUD_SECRET", "cloud-secret-from-env"}}));
  INFO(Dump(loaded.diagnostics));
  REQUIRE(loaded.Ok());
  REQUIRE(loaded.files.size() == 2);  // notes.txt is ignored, the .JSON extension is not
  CHECK(loaded.files[0] == Fixture("dir-merge/00-orthanc.json"));
  CHECK(loaded.files[1] == Fixture("dir-merge/10-dicomweb-oauth.JSON"));
  CHECK(loaded.baseDirectory == Fixture("dir-merge"));
  const rapidjson::Document& doc = *loaded.document;
  CHECK(doc.HasMember("Name"));
  CHECK(doc.HasMember("DicomWeb"));
  CHECK(doc.HasMember("DicomWebOAuth"));

  ParseOptions options = TestOptions();
  options.baseDirectory = loaded.baseDirectory;
  options.variables = &loaded.variables;
  const ParseResult parsed = ConfigParser::Parse(doc, options);
  INFO(Dump(parsed.diagnostics));
  REQUIRE(parsed.Ok());
  const GatewayConfig& config = *parsed.config;
  CHECK(config.orthanc.httpPort == 18042);
  CHECK(RawString(config.servers.at("cloud"), "ClientSecret") == "cloud-secret-from-env");
  // Relative script folder resolved against the configuration folder.
  REQUIRE(config.global.scriptDirectories.size() == 1);
  CHECK(config.global.scriptDirectories[0] ==
        (std::filesystem::path(GW_SOURCE_DIR) / "lua").lexically_normal().string());
  REQUIRE(loaded.variables.At("DicomWebOAuth.Servers.cloud.ClientSecret").size() == 1);
  CHECK(loaded.variables.At("DicomWebOAuth.Servers.cloud.ClientSecret")[0].name == "GW_FIXTURE_CLOUD_SECRET");
}

TEST_CASE("ConfigLoader/folder: a key in two files is CFG-005", "[config][loader]") {
  const LoadResult loaded = ConfigLoader::Load(Fixture("dir-conflict"), FakeEnv({}));
  CHECK_FALSE(loaded.Ok());
  CHECK(loaded.document == nullptr);
  const Diagnostic* d = Find(loaded.diagnostics, "CFG-005", "DicomWebOAuth");
  REQUIRE(d != nullptr);
  CHECK(d->message.find(Fixture("dir-conflict/a.json")) != std::string::npos);
  CHECK(d->message.find(Fixture("dir-conflict/b.json")) != std::string::npos);
}

TEST_CASE("ConfigLoader/empty folder: Orthanc defaults, no section", "[config][loader]") {
  TempDir dir;
  const LoadResult loaded = ConfigLoader::Load(dir.Path(), FakeEnv({}));
  REQUIRE(loaded.document != nullptr);
  CHECK(Has(loaded.diagnostics, "CFG-005", dir.Path(), Severity::Warning));
  CHECK(ConfigParser::Parse(*loaded.document, TestOptions()).section == SectionStatus::Missing);
}

TEST_CASE("ConfigLoader/Orthanc's JsonCpp leniency", "[config][loader]") {
  TempDir dir;
  SECTION("a repeated key keeps its last value, with a warning") {
    const LoadResult loaded = ConfigLoader::Load(
        dir.Write("c.json", R"({"HttpPort": 1, "DicomWeb": {"ServersInDatabase": true, "ServersInDatabase": false}, "HttpPort": 2})"),
        FakeEnv({}));
    REQUIRE(loaded.Ok());
    CHECK((*loaded.document)["HttpPort"].GetInt() == 2);
    CHECK((*loaded.document)["DicomWeb"]["ServersInDatabase"].GetBool() == false);
    CHECK((*loaded.document)["DicomWeb"].MemberCount() == 1);
    CHECK(Has(loaded.diagnostics, "CFG-005", "HttpPort", Severity::Warning));
    CHECK(Has(loaded.diagnostics, "CFG-005", "DicomWeb.ServersInDatabase", Severity::Warning));
  }
  SECTION("UTF-8 BOM and text after the root value") {
    const LoadResult loaded = ConfigLoader::Load(dir.Write("c.json", "\xEF\xBB\xBF{\"HttpPort\": 3} trailing"), FakeEnv({}));
    REQUIRE(loaded.Ok());
    CHECK((*loaded.document)["HttpPort"].GetInt() == 3);
  }
  SECTION("unquoted ${VAR} used as a number") {
    const LoadResult loaded = ConfigLoader::Load(dir.Write("c.json", R"({"HttpPort": ${GW_T_PORT:-8043}})"), FakeEnv({}));
    REQUIRE(loaded.Ok());
    CHECK((*loaded.document)["HttpPort"].GetInt() == 8043);
    REQUIRE(loaded.variables.At("HttpPort").size() == 1);
    CHECK(loaded.variables.At("HttpPort")[0].hasDefault);
  }
  SECTION("${} without a name is refused like Orthanc does") {
    const LoadResult loaded = ConfigLoader::Load(dir.Write("c.json", "{\n \"Name\": \"${}\"}"), FakeEnv({}));
    CHECK_FALSE(loaded.Ok());
    REQUIRE(CountCode(loaded.diagnostics, "CFG-005") == 1);
    CHECK(loaded.diagnostics[0].message.find("line 2, column 11") != std::string::npos);
  }
  SECTION("a variable value that breaks the JSON is explained, without the value") {
    const LoadResult loaded = ConfigLoader::Load(dir.Write("c.json", R"({"DicomWebOAuth": {"Servers": {"s": {"ClientSecret": "${GW_T_Q}"}}}})"),
                                                 FakeEnv({{"GW_T_Q", "quote\"in-secret-value"}}));
    CHECK_FALSE(loaded.Ok());
    REQUIRE(loaded.diagnostics.size() == 1);
    CHECK(loaded.diagnostics[0].code == "CFG-005");
    CHECK(loaded.diagnostics[0].message.find("after ${VAR} substitution") != std::string::npos);
    CHECK(loaded.diagnostics[0].message.find("in-secret-value") == std::string::npos);
  }
}
