// lua/providers/token_file.lua: the token read from TokenFile at every acquisition, with a short
// refresh_in so a changed file is noticed; JWT exp as lifetime; unreadable, empty and expired
// contents refused.
#include "GoogleTestSupport.h"

using namespace gw::providers::test;

namespace {

std::string ConfigFor(const std::string& file, const std::string& extra = "") {
  return "{\"ProviderType\":\"file\",\"TokenFile\":" + Quote(file) + (extra.empty() ? "" : "," + extra) + "}";
}

}  // namespace

TEST_CASE("TokenFile/reads and trims the file, asks to be called again soon", "[providers][tokenfile]") {
  ScriptRig rig({"token_file"});
  const std::string file = rig.Write("token", "  file-token-one\n");
  auto r = rig.Acquire("token_file", ConfigFor(file));
  INFO((r.Ok() ? ToJson(r.Value()) : r.GetError().ToString()));
  REQUIRE(r.Ok());
  CHECK(std::string(r.Value()["access_token"].GetString()) == "file-token-one");
  CHECK(r.Value()["expires_in"].GetDouble() == 300);
  CHECK(r.Value()["refresh_in"].GetDouble() == 30);

  SECTION("a rewritten file gives the new token at the next acquisition") {
    rig.Write("token", "file-token-two");
    auto again = rig.Acquire("token_file", ConfigFor(file));
    REQUIRE(again.Ok());
    CHECK(std::string(again.Value()["access_token"].GetString()) == "file-token-two");
  }
  SECTION("a file replaced by rename (Kubernetes volumes) too") {
    const std::string next = rig.Write("token.next", "file-token-three");
    std::filesystem::rename(next, file);
    auto again = rig.Acquire("token_file", ConfigFor(file));
    REQUIRE(again.Ok());
    CHECK(std::string(again.Value()["access_token"].GetString()) == "file-token-three");
  }
  SECTION("TokenFileRefreshSeconds") {
    auto fast = rig.Acquire("token_file", ConfigFor(file, "\"TokenFileRefreshSeconds\":2"));
    REQUIRE(fast.Ok());
    CHECK(fast.Value()["refresh_in"].GetDouble() == 2);
    // The engine refreshes no sooner than a tenth of the lifetime: the lifetime follows.
    CHECK(fast.Value()["expires_in"].GetDouble() == 20);
    CHECK(ErrorCode(rig.Acquire("token_file", ConfigFor(file, "\"TokenFileRefreshSeconds\":0"))) == "CFG-002");
    CHECK(ErrorCode(rig.Acquire("token_file", ConfigFor(file, "\"TokenFileRefreshSeconds\":1.5"))) == "CFG-002");
  }
  CHECK(rig.Http().Count() == 0);
  rig.RequireBalanced();
}

TEST_CASE("TokenFile/a JWT lives until its exp, refresh_in stays within half of it", "[providers][tokenfile]") {
  ScriptRig rig({"token_file"});
  const std::string file = rig.Write("token", UnsignedJwt(UnixNow() + 40) + "\n");
  auto r = rig.Acquire("token_file", ConfigFor(file));
  REQUIRE(r.Ok());
  CHECK(r.Value()["expires_in"].GetDouble() <= 40);
  CHECK(r.Value()["expires_in"].GetDouble() > 30);
  CHECK(r.Value()["refresh_in"].GetDouble() <= 20);

  rig.Write("token", UnsignedJwt(UnixNow() - 1));
  CHECK(ErrorCode(rig.Acquire("token_file", ConfigFor(file))) == "TOK-004");
}

TEST_CASE("TokenFile/unusable files are TOK-004 (retried), never an empty token", "[providers][tokenfile]") {
  ScriptRig rig({"token_file"});
  CHECK(ErrorCode(rig.Acquire("token_file", ConfigFor(rig.DataPath("absent")))) == "TOK-004");
  CHECK(ErrorCode(rig.Acquire("token_file", ConfigFor(rig.Write("empty", " \n")))) == "TOK-004");
  auto two = rig.Acquire("token_file", ConfigFor(rig.Write("two", "one two")));
  REQUIRE(ErrorCode(two) == "TOK-004");
  CHECK(two.GetError().message.find("one two") == std::string::npos);
  CHECK(ErrorCode(rig.Acquire("token_file", ConfigFor("/etc/hostname"))) == "TOK-004");  // not allowlisted
  CHECK(ErrorCode(rig.Acquire("token_file", R"({"ProviderType":"file"})")) == "CFG-001");
  rig.RequireBalanced();
}
