// Changing policies without fear: a dry run of the script folders publishes nothing, and
// PolicyEngine::Evaluate shows each policy's decision next to the chain's.
#include <filesystem>
#include <fstream>

#include "PolicyTestSupport.h"
#include "gw/common/Json.h"
#include "gw/policy/DryRun.h"

using gw::policy::PolicyEngine;
using gw::policy::test::LoadEngine;
using gw::policy::test::PolicyFolder;
using gw::policy::test::RequestData;

namespace {

void WriteFile(const std::string& folder, const std::string& name, const std::string& text) {
  std::ofstream(std::filesystem::path(folder) / name) << text;
}

}  // namespace

TEST_CASE("DryRun: a changed policy is compiled, self-tested and compared without being published", "[policy]") {
  PolicyFolder folder({"read_only", "default_routing"});
  auto engine = LoadEngine(folder);
  const auto serving = engine->CurrentInfo();
  REQUIRE(serving.version == 1);

  folder.AddPolicy("weekend_block", "  return { allow = true }");
  // Same contract version, other bytes: still reported as changed.
  const std::string readOnly = (std::filesystem::path(folder.Path()) / "read_only.lua").string();
  std::ofstream(readOnly, std::ios::app) << "\n-- edited\n";
  std::filesystem::remove(std::filesystem::path(folder.Path()) / "default_routing.lua");

  const auto candidate = engine->DryRun();
  INFO((candidate ? std::string("ok") : candidate.GetError().ToString()));
  REQUIRE(candidate.Ok());
  CHECK(candidate.Value().version == 0);
  CHECK(candidate.Value().digest != serving.digest);
  // Nothing published: the serving snapshot is the same object as before.
  CHECK(engine->CurrentInfo().version == 1);
  CHECK(engine->CurrentInfo().digest == serving.digest);
  CHECK(engine->HasScript("default_routing"));
  CHECK_FALSE(engine->HasScript("weekend_block"));

  const auto changes = gw::policy::CompareSnapshots(serving, candidate.Value());
  REQUIRE(changes.size() == 3);
  CHECK(changes[0].name == "default_routing");
  CHECK(changes[0].change == "removed");
  CHECK(changes[1].name == "read_only");
  CHECK(changes[1].change == "changed");
  CHECK(changes[1].before == "1.0.0");
  CHECK(changes[2].name == "weekend_block");
  CHECK(changes[2].change == "added");
  CHECK(changes[2].after == "1");

  gw::json::Writer w;
  gw::policy::WriteChanges(w, changes);
  CHECK(w.Take().find(R"("change":"added")") != std::string::npos);
}

TEST_CASE("DryRun: an unchanged folder reports no change", "[policy]") {
  PolicyFolder folder({"read_only"});
  auto engine = LoadEngine(folder);
  const auto candidate = engine->DryRun();
  REQUIRE(candidate.Ok());
  CHECK(candidate.Value().digest == engine->CurrentInfo().digest);
  CHECK(gw::policy::CompareSnapshots(engine->CurrentInfo(), candidate.Value()).empty());
}

TEST_CASE("DryRun: a failing self_test is reported and the serving snapshot stays", "[policy]") {
  PolicyFolder folder({"read_only"});
  auto engine = LoadEngine(folder);
  WriteFile(folder.Path(), "broken.lua",
            "local M = { name = 'broken', version = '2', kind = 'policy' }\n"
            "function M.decide(r) return { allow = true } end\n"
            "function M.self_test() error('expected a denial for DELETE') end\nreturn M\n");
  const auto candidate = engine->DryRun();
  REQUIRE_FALSE(candidate.Ok());
  CHECK(candidate.GetError().code == "LUA-011");
  CHECK(candidate.GetError().message.find("expected a denial for DELETE") != std::string::npos);
  CHECK(engine->CurrentInfo().version == 1);
}

TEST_CASE("DryRun: the reload validator runs, so a snapshot without a needed script is refused", "[policy]") {
  PolicyFolder folder({"read_only"});
  gw::lua::EngineOptions options;
  options.scriptDirs = {folder.Path()};
  options.validator = [](const gw::lua::SnapshotInfo& info) -> gw::Status {
    for (const auto& s : info.scripts) {
      if (s.name == "read_only") return gw::Status::Success();
    }
    return gw::MakeError("CFG-002", "server `cloud` needs the policy script `read_only`", 422);
  };
  gw::lua::ScriptEngine engine(options);
  REQUIRE(engine.Reload().Ok());
  std::filesystem::remove(std::filesystem::path(folder.Path()) / "read_only.lua");
  folder.AddPolicy("other", "  return { allow = true }");
  const auto candidate = engine.DryRun();
  REQUIRE_FALSE(candidate.Ok());
  CHECK(candidate.GetError().code == "CFG-002");
  CHECK(engine.HasScript("read_only"));
}

TEST_CASE("Evaluate: each policy's own decision and the combined one", "[policy]") {
  PolicyFolder folder({"read_only"});
  folder.AddPolicy("tag", "  return { allow = true, set_headers = { ['X-Tag'] = 'eu' } }");
  folder.AddPolicy("long_token", "  return { allow = true, min_token_seconds = 120 }");
  auto engine = LoadEngine(folder);
  PolicyEngine policies(*engine);

  RequestData get;
  auto allowed = policies.Evaluate({"tag", "read_only", "long_token"}, get.View());
  REQUIRE(allowed.steps.size() == 3);
  CHECK(allowed.combined.allow);
  CHECK(allowed.combined.minTokenSeconds.count() == 120);
  CHECK(allowed.combined.setHeaders.size() == 1);
  for (const auto& step : allowed.steps) CHECK(step.consulted);
  CHECK(allowed.steps[0].decision.setHeaders.size() == 1);
  CHECK(allowed.steps[2].decision.minTokenSeconds.count() == 120);

  RequestData post;
  post.method = "POST";
  auto denied = policies.Evaluate({"tag", "read_only", "long_token"}, post.View());
  CHECK_FALSE(denied.combined.allow);
  CHECK(denied.combined.code == "POL-010");
  CHECK(denied.combined.policy == "read_only");
  CHECK(denied.steps[0].consulted);
  CHECK(denied.steps[0].decision.allow);
  CHECK(denied.steps[1].consulted);
  CHECK_FALSE(denied.steps[1].decision.allow);
  // The chain stopped at read_only; long_token's own decision is still shown.
  CHECK_FALSE(denied.steps[2].consulted);
  CHECK(denied.steps[2].decision.allow);
  CHECK(gw::policy::DescribeDecision(denied.combined).rfind("deny 403 POL-010: server 'cloud' is read-only", 0) == 0);
  CHECK(gw::policy::DescribeDecision(allowed.combined).find("token valid >= 120 s") != std::string::npos);

  gw::json::Writer w;
  gw::policy::WriteDecision(w, denied.combined);
  const std::string text = w.Take();
  CHECK(text.find(R"("allow":false)") != std::string::npos);
  CHECK(text.find(R"("policy":"read_only")") != std::string::npos);
}

TEST_CASE("Evaluate: a policy missing from the snapshot fails closed", "[policy]") {
  PolicyFolder folder({"read_only"});
  auto engine = LoadEngine(folder);
  PolicyEngine policies(*engine);
  RequestData get;
  auto e = policies.Evaluate({"no_such_policy"}, get.View());
  CHECK_FALSE(e.combined.allow);
  CHECK(e.combined.code == "POL-002");
  REQUIRE(e.steps.size() == 1);
  CHECK_FALSE(e.steps[0].decision.allow);
}
