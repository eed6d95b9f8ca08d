// PolicyEngine with the real ScriptEngine and small test policies: the request table, the chain,
// and every way a policy can fail (all of them deny).
#include <algorithm>

#include "PolicyTestSupport.h"
#include "gw/common/Json.h"

using gw::policy::PolicyEngine;
using gw::policy::Stage;
using gw::policy::test::LoadEngine;
using gw::policy::test::PolicyFolder;
using gw::policy::test::RequestData;

TEST_CASE("PolicyEngine/request table", "[policy]") {
  RequestData data;
  data.stage = Stage::Client;
  data.mode = "inject";
  data.method = "POST";
  data.path = "/dicom-web/servers/cloud/stow";
  data.operation = "stow";
  data.user = "alice";
  data.ip = "127.0.0.1";
  data.headers = {{"Authorization", "Basic YWxpY2U6c2VjcmV0LXBhc3N3b3Jk"},
                  {"x-dicomweb-oauth-gateway", "loopback-secret-value"},
                  {"Cookie", "session=cookie-secret"},
                  {"Accept", "application/json"},
                  {"accept", "text/plain"}};
  data.query = {{"limit", "10"}, {"limit", "20"}};
  data.targets = {{"primary", true}, {"secondary", false}};
  data.config.Parse(R"({"AllowedUsers": ["alice"]})");
  rapidjson::Document table;
  PolicyEngine::BuildRequest(data.View(), table);
  const std::string text = gw::json::Stringify(table);
  INFO(text);
  CHECK(std::string(table["stage"].GetString()) == "client");
  CHECK(std::string(table["mode"].GetString()) == "inject");
  CHECK(std::string(table["operation"].GetString()) == "stow");
  CHECK(std::string(table["user"].GetString()) == "alice");
  CHECK(std::string(table["ip"].GetString()) == "127.0.0.1");
  // Credentials never reach a script: the scheme only, no loopback secret, no cookie.
  CHECK(std::string(table["headers"]["authorization"].GetString()) == "Basic");
  CHECK(text.find("YWxpY2U6") == std::string::npos);
  CHECK(text.find("loopback-secret-value") == std::string::npos);
  CHECK(text.find("cookie-secret") == std::string::npos);
  CHECK(std::string(table["headers"]["accept"].GetString()) == "application/json, text/plain");
  CHECK(std::string(table["query"]["limit"].GetString()) == "10,20");
  REQUIRE(table["targets"].Size() == 2);
  CHECK(table["targets"][1]["healthy"].GetBool() == false);
  CHECK(table["config"]["AllowedUsers"][0] == "alice");
}

TEST_CASE("PolicyEngine/no policy allows", "[policy]") {
  PolicyFolder folder({"default_routing"});
  auto engine = LoadEngine(folder);
  PolicyEngine policies(*engine);
  RequestData data;
  const auto d = policies.Decide({}, data.View());
  CHECK(d.allow);
  CHECK(d.target.empty());
}

TEST_CASE("PolicyEngine/failures deny", "[policy]") {
  PolicyFolder folder(std::vector<std::string>{});
  folder.AddPolicy("raises", "error('boom: ' .. request.headers.accept)");
  folder.AddPolicy("loops", "while true do end");
  folder.AddPolicy("refuses", "return nil, {code = 'ACL-007', message = 'not today', status = 409}");
  folder.AddPolicy("says_no", "return nil, 'closed for maintenance'");
  folder.AddPolicy("typo", "return {alow = true}");
  folder.AddPolicy("returns_nil", "return nil");
  folder.AddPolicy("allow_all", "return {allow = true}");
  auto engine = LoadEngine(folder);
  PolicyEngine policies(*engine, std::chrono::milliseconds(200));
  RequestData data;
  data.headers = {{"accept", "secret-looking-value"}};

  SECTION("a raised error is POL-002, detail not answered") {
    const auto d = policies.Decide({"raises"}, data.View());
    CHECK_FALSE(d.allow);
    CHECK(d.status == 500);
    CHECK(d.code == "POL-002");
    CHECK(d.policy == "raises");
    CHECK(d.reason.find("secret-looking-value") == std::string::npos);
  }
  SECTION("an endless loop is stopped by the budget: POL-002") {
    const auto started = std::chrono::steady_clock::now();
    const auto d = policies.Decide({"loops"}, data.View());
    CHECK_FALSE(d.allow);
    CHECK(d.code == "POL-002");
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
  }
  SECTION("a missing script is POL-002") {
    const auto d = policies.Decide({"allow_all", "not_there"}, data.View());
    CHECK_FALSE(d.allow);
    CHECK(d.code == "POL-002");
    CHECK(d.policy == "not_there");
  }
  SECTION("a deliberate refusal keeps its code, message and status") {
    const auto d = policies.Decide({"refuses"}, data.View());
    CHECK_FALSE(d.allow);
    CHECK(d.status == 409);
    CHECK(d.code == "ACL-007");
    CHECK(d.reason == "not today");
  }
  SECTION("nil, reason is a 403 POL-001") {
    const auto d = policies.Decide({"says_no"}, data.View());
    CHECK_FALSE(d.allow);
    CHECK(d.status == 403);
    CHECK(d.code == "POL-001");
    CHECK(d.reason == "closed for maintenance");
  }
  SECTION("an invalid table is POL-003") {
    const auto d = policies.Decide({"allow_all", "typo"}, data.View());
    CHECK_FALSE(d.allow);
    CHECK(d.status == 500);
    CHECK(d.code == "POL-003");
    CHECK(d.reason.find("alow") != std::string::npos);
  }
  SECTION("a bare nil is POL-002") {
    const auto d = policies.Decide({"returns_nil"}, data.View());
    CHECK_FALSE(d.allow);
    CHECK(d.code == "POL-002");
  }
  SECTION("the first denial stops the chain") {
    // `raises` would turn the refusal into POL-002 if it ran.
    const auto d = policies.Decide({"allow_all", "refuses", "raises"}, data.View());
    CHECK(d.code == "ACL-007");
    CHECK(d.policies == std::vector<std::string>{"allow_all", "refuses"});
  }
  CHECK(engine->DebugPoolInfo().idleStackTops == std::vector<int>(engine->DebugPoolInfo().idleStackTops.size(), 0));
}

TEST_CASE("PolicyEngine/the chain combines decisions", "[policy]") {
  PolicyFolder folder(std::vector<std::string>{});
  folder.AddPolicy("first", "return {allow = true, target = 'secondary', set_headers = {['X-A'] = '1', ['X-B'] = '1'},"
                            " min_token_seconds = 600}");
  folder.AddPolicy("second", "return {allow = true, target = 'primary', set_headers = {['x-b'] = '2'},"
                             " remove_headers = {'Accept-Language'}, min_token_seconds = 300}");
  folder.AddPolicy("sees_scheme",
                   "if request.headers.authorization ~= 'Bearer' then return nil, 'scheme not visible' end\n"
                   "return {allow = true}");
  auto engine = LoadEngine(folder);
  PolicyEngine policies(*engine);
  RequestData data;
  data.targets = {{"primary", true}, {"secondary", true}};
  data.headers = {{"authorization", "Bearer eyJhbGciOiJub25lIn0.e30."}};
  const auto d = policies.Decide({"first", "second", "sees_scheme"}, data.View());
  INFO(d.code << " " << d.reason);
  REQUIRE(d.allow);
  CHECK(d.target == "primary");  // the later policy wins
  CHECK(d.minTokenSeconds.count() == 600);  // the largest applies
  auto set = d.setHeaders;  // Lua tables have no order: compare sorted
  std::sort(set.begin(), set.end());
  CHECK(set == gw::http::Headers{{"x-a", "1"}, {"x-b", "2"}});
  CHECK(d.removeHeaders == std::vector<std::string>{"accept-language"});
  CHECK(d.policies.size() == 3);
}

TEST_CASE("PolicyEngine/the lazily built request table reads like the eager one", "[policy]") {
  PolicyFolder folder(std::vector<std::string>{});
  folder.AddPolicy("reads", R"(
    local keys = {}
    for k in pairs(request) do keys[#keys + 1] = k end
    table.sort(keys)
    local names = {}
    for k, v in pairs(request.headers) do names[#names + 1] = k .. '=' .. v end
    table.sort(names)
    return {allow = true, reason = table.concat(keys, ',') .. ' | ' .. table.concat(names, ';') .. ' | ' ..
      request.query.limit .. ' | ' .. #request.targets .. ' ' .. request.targets[2].name .. ' ' ..
      tostring(request.targets[2].healthy) .. ' | ' .. tostring(getmetatable(request))})");
  folder.AddPolicy("scalar_only", "return {allow = true, reason = request.method .. ' ' .. request.path}");
  folder.AddPolicy("rebinds", "setmetatable(request, {}) return {allow = true}");
  auto engine = LoadEngine(folder);
  PolicyEngine policies(*engine, std::chrono::milliseconds(10000));  // no budget denial under valgrind or ASan
  RequestData data;
  data.headers = {{"Authorization", "Bearer eyJ0b2tlbi1zZWNyZXQ"},
                  {"x-dicomweb-oauth-gateway", "loopback-secret-value"},
                  {"Cookie", "session=cookie-secret"},
                  {"Accept", "application/json"},
                  {"accept", "text/plain"}};
  data.query = {{"limit", "10"}, {"limit", "20"}};
  data.targets = {{"primary", true}, {"secondary", false}};

  const auto d = policies.Decide({"reads"}, data.View());
  INFO(d.code + " " + d.reason);
  REQUIRE(d.allow);
  CHECK(d.reason ==
        "headers,method,mode,path,query,server,stage,targets | accept=application/json, text/plain;authorization=Bearer"
        " | 10,20 | 2 secondary false | false");
  const auto scalar = policies.Decide({"scalar_only"}, data.View());
  CHECK(scalar.reason == "GET studies");
  // The metatable that builds the fields is protected: replacing it fails, so the policy denies.
  const auto rebinds = policies.Decide({"rebinds"}, data.View());
  CHECK_FALSE(rebinds.allow);
  CHECK(rebinds.code == "POL-002");
}

TEST_CASE("Regression: a request table kept past its call reads its own copy, not the caller's freed data", "[policy]") {
  PolicyFolder folder(std::vector<std::string>{});
  // A module-level local outlives the call: the first request table stays reachable in the state.
  std::ofstream(std::filesystem::path(folder.Path()) / "keeps.lua")
      << "local M = { name = 'keeps', version = '1', kind = 'policy' }\n"
      << "local kept\n"
      << "function M.decide(request)\n"
      << "  if kept == nil then kept = request return {allow = true, reason = 'kept'} end\n"
      << "  return {allow = true, reason = kept.headers.accept .. ' ' .. kept.query.q .. ' ' .. kept.targets[1].name}\n"
      << "end\nreturn M\n";
  auto engine = LoadEngine(folder);
  PolicyEngine policies(*engine, std::chrono::milliseconds(10000));
  {
    auto first = std::make_unique<RequestData>();
    first->headers = {{"Accept", "first-accept"}};
    first->query = {{"q", "first-query"}};
    first->targets = {{"primary", true}};
    CHECK(policies.Decide({"keeps"}, first->View()).reason == "kept");
    first.reset();  // the data the first table was built from is gone
  }
  RequestData second;
  second.headers = {{"Accept", "second-accept"}};
  second.query = {{"q", "second-query"}};
  const auto d = policies.Decide({"keeps"}, second.View());
  CHECK(d.reason == "first-accept first-query primary");
}

TEST_CASE("Regression: a policy of a chain gets a pristine request table although an earlier one changed its own", "[policy]") {
  // The policies of a chain share the values and the metatable the first one's table was made
  // from (RequestTable.h): what a policy does to its table must still never reach the next one.
  PolicyFolder folder(std::vector<std::string>{});
  folder.AddPolicy("mutates", R"(
    request.method = 'DELETE'
    request.server = 'elsewhere'
    request.path = nil
    request.headers.accept = 'changed'
    request.targets[1].name = 'evil'
    request.query.limit = '0'
    request.user = 'mallory'
    return {allow = true})");
  folder.AddPolicy("checks", R"(
    local seen = table.concat({request.method, request.server, tostring(request.path), request.headers.accept,
      request.targets[1].name, request.query.limit, tostring(request.user), tostring(getmetatable(request))}, ' ')
    if seen ~= 'GET cloud studies application/json primary 10 nil false' then return nil, seen end
    return {allow = true})");
  auto engine = LoadEngine(folder);
  PolicyEngine policies(*engine, std::chrono::milliseconds(10000));
  RequestData data;
  data.headers = {{"Accept", "application/json"}};
  data.query = {{"limit", "10"}};
  for (int i = 0; i < 3; ++i) {  // the same state serves the chain again: the cache is refilled
    const auto d = policies.Decide({"mutates", "checks", "mutates", "checks"}, data.View());
    INFO(d.code + " " + d.reason);
    CHECK(d.allow);
  }
  // The next request's chain sees its own values, not those cached for the previous one.
  data.method = "POST";
  data.path = "studies/1.2.3";
  folder.AddPolicy("echo", "return {allow = true, reason = request.method .. ' ' .. request.path}");
  auto reloaded = engine->Reload();
  REQUIRE(reloaded.Ok());
  CHECK(policies.Decide({"mutates", "echo"}, data.View()).reason == "POST studies/1.2.3");
  data.method = "PUT";
  CHECK(policies.Decide({"mutates", "echo"}, data.View()).reason == "PUT studies/1.2.3");
  // An empty path is still there ("", as in a lone policy's table); an empty user is left out.
  data.path = "";
  CHECK(policies.Decide({"mutates", "echo"}, data.View()).reason == "PUT ");
  CHECK(policies.Decide({"echo"}, data.View()).reason == "PUT ");
  const auto user = policies.Decide({"echo", "checks"}, data.View());
  CHECK(user.code == "POL-001");  // checks refuses with what it saw: no user, the empty path
  CHECK(user.reason == "PUT cloud  application/json primary 10 nil false");
}

TEST_CASE("PolicyEngine/a refusal's reason is the script's own words, read from the error's origin", "[policy][errors]") {
  PolicyFolder folder(std::vector<std::string>{});
  // The reason quotes the words the engine's message uses as a prefix: nothing is cut from it.
  folder.AddPolicy("quotes", "return nil, 'upstream returned an error: 503'");
  // A script that gives a LUA-xxx code of its own is treated as a failing script (fail closed).
  folder.AddPolicy("fakes_lua", "return nil, {code = 'LUA-042', message = 'pretend', status = 403}");
  auto engine = LoadEngine(folder);
  PolicyEngine policies(*engine, std::chrono::milliseconds(200));
  RequestData data;

  const auto quoted = policies.Decide({"quotes"}, data.View());
  CHECK_FALSE(quoted.allow);
  CHECK(quoted.code == "POL-001");
  CHECK(quoted.status == 403);
  CHECK(quoted.reason == "upstream returned an error: 503");

  const auto faked = policies.Decide({"fakes_lua"}, data.View());
  CHECK_FALSE(faked.allow);
  CHECK(faked.code == "POL-002");
  CHECK(faked.status == 500);
}
