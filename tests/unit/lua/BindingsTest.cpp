// gw.env, gw.file, gw.http, gw.log, gw.time.
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "LuaTestSupport.h"
#include "gw/common/SecretRegistry.h"

using namespace gw::lua;
using namespace gw::lua::test;
using std::chrono::milliseconds;

namespace {

struct Bound {
  TempDir dir;
  EngineOptions options;
  std::unique_ptr<ScriptEngine> engine;

  Bound() { options = OptionsFor(dir); }
  void Load(const std::string& body) {
    dir.Write("probe.lua", Policy("probe", body));
    engine = std::make_unique<ScriptEngine>(options);
    const auto loaded = engine->Reload();
    if (!loaded) FAIL(loaded.GetError().ToString());
  }
  std::string Call(const std::string& arg = "{}", milliseconds budget = milliseconds(0)) {
    std::string out = CallText(*engine, "probe", "decide", arg.c_str(), budget);
    RequireBalanced(*engine);
    return out;
  }
};

}  // namespace

TEST_CASE("LuaBindings/gw.env.get honours the allowlist", "[lua][bindings]") {
  ::setenv("GW_LUA_TEST_ALLOWED", "allowed-value", 1);
  ::setenv("GW_LUA_TEST_SECRET", "must-not-leak-42", 1);
  ::unsetenv("GW_LUA_TEST_UNSET");
  ScopedSink sink;
  Bound b;
  b.options.envAllowlist = {"GW_LUA_TEST_ALLOWED", "GW_LUA_TEST_UNSET"};
  b.Load("return { v = gw.env.get(arg.name) or 'NIL' }");
  CHECK(b.Call(R"({"name":"GW_LUA_TEST_ALLOWED"})") == R"({"v":"allowed-value"})");
  CHECK(b.Call(R"({"name":"GW_LUA_TEST_UNSET"})") == R"({"v":"NIL"})");
  CHECK(b.Call(R"({"name":"GW_LUA_TEST_SECRET"})") == R"({"v":"NIL"})");
  CHECK(b.Call(R"({"name":"GW_LUA_TEST_SECRET"})") == R"({"v":"NIL"})");
  CHECK(b.Call(R"({"name":"GW_LUA_TEST_ALLOWED\u0000X"})") == R"({"v":"NIL"})");
  CHECK(b.Call(R"({"name":"PATH"})") == R"({"v":"NIL"})");
  // Refusals are logged once per name, with the script name; the value never appears.
  CHECK(sink->Count("refused 'GW_LUA_TEST_SECRET'") == 1);
  CHECK(sink->Count("[lua:probe]") >= 2);
  CHECK(sink->Count("must-not-leak-42") == 0);
  CHECK(sink->Count("refused 'PATH'") == 1);
  CHECK(b.Call("{}").rfind("ERR LUA-006", 0) == 0);  // name missing: raised
  RequireBalanced(*b.engine);
}

TEST_CASE("LuaBindings/gw.file.read honours the allowlist", "[lua][bindings]") {
  namespace fs = std::filesystem;
  TempDir files;
  files.Write("allowed/config.json", R"({"k":"v"})");
  files.Write("allowed/sub/deep.txt", "deep");
  files.Write("allowed-other/secret.txt", "prefix trick");
  files.Write("outside/secret.txt", "outside");
  files.Write("allowed/big.bin", std::string(1024 * 1024 + 1, 'x'));
  files.Write("allowed/exactly-1mib.bin", std::string(1024 * 1024, 'y'));
  fs::create_symlink(files / "outside/secret.txt", files / "allowed/link-out.txt");
  fs::create_symlink(files / "allowed/sub/deep.txt", files / "allowed/link-in.txt");
  fs::create_symlink(files / "outside", files / "allowed/dir-link");
  ::mkfifo((files / "allowed/fifo").c_str(), 0600);

  Bound b;
  b.options.fileAllowlist = {files / "allowed"};
  b.Load(R"(
    local ok, v = pcall(function() return gw.file.read(arg.path) end)
    if ok then return { ok = true, size = #v, head = v:sub(1, 9) } end
    return { ok = false, err = v })");
  auto read = [&](const std::string& path) {
    return Json(b.Call("{\"path\":\"" + path + "\"}").c_str());
  };
  auto refused = [&](const std::string& path, const char* reason) {
    INFO(path);
    const auto r = read(path);
    REQUIRE(r.IsObject());
    CHECK_FALSE(r["ok"].GetBool());
    CHECK_THAT(r["err"].GetString(), Catch::Contains("gw.file.read") && Catch::Contains(reason));
  };

  auto ok = read(files / "allowed/config.json");
  CHECK(ok["ok"].GetBool());
  CHECK(std::string(ok["head"].GetString()) == R"({"k":"v"})");
  CHECK(read(files / "allowed/sub/deep.txt")["ok"].GetBool());
  CHECK(read(files / "allowed/link-in.txt")["ok"].GetBool());              // link staying inside
  CHECK(read(files / "allowed/sub/../config.json")["ok"].GetBool());       // .. staying inside
  CHECK(read(files / "allowed/exactly-1mib.bin")["size"].GetInt() == 1024 * 1024);

  refused(files / "outside/secret.txt", "outside the folders");
  refused(files / "allowed/../outside/secret.txt", "outside the folders");  // .. escape
  refused(files / "allowed/link-out.txt", "outside the folders");           // symlink escape
  refused(files / "allowed/dir-link/secret.txt", "outside the folders");    // folder symlink escape
  refused(files / "allowed-other/secret.txt", "outside the folders");       // prefix is not a folder
  refused(files / "allowed/big.bin", "larger than 1 MiB");
  refused(files / "allowed/sub", "not a regular file");
  refused(files / "allowed/fifo", "not a regular file");
  refused(files / "allowed/missing.txt", "No such file");
  refused("relative/path.txt", "gw.file.read");
  refused("", "invalid path");
  RequireBalanced(*b.engine);
}

TEST_CASE("LuaBindings/gw.file.read with no allowlist reads nothing", "[lua][bindings]") {
  Bound b;
  const std::string self = b.dir / "probe.lua";
  b.Load("return gw.file.read(arg.path)");
  CHECK(b.Call("{\"path\":\"" + self + "\"}") == "ERR LUA-006");
}

TEST_CASE("LuaBindings/gw.http.request", "[lua][bindings]") {
  auto fake = std::make_shared<FakeHttpClient>();
  TempDir tlsFiles;
  tlsFiles.Write("ca.pem", "CA PEM TEXT");
  tlsFiles.Write("c.pem", "CERT PEM TEXT");
  tlsFiles.Write("k.pem", "KEY PEM TEXT");
  Bound b;
  b.options.http = fake;
  b.options.fileAllowlist = {tlsFiles.Path()};
  b.Load(R"(
    local r, err = gw.http.request(arg)
    if not r then return { failed = true, code = err.code, message = err.message } end
    return r)");

  SECTION("request fields reach the client, response comes back") {
    fake->respond = [](const gw::http::HttpRequest&) -> gw::Result<gw::http::HttpResponse> {
      gw::http::HttpResponse response;
      response.status = 201;
      response.headers = {{"Content-Type", "application/json"}, {"x-multi", "a"}, {"X-Multi", "b"}};
      response.body = R"({"access_token":"abc"})";
      return response;
    };
    const std::string out = b.Call(R"({"method":"post","url":"https://idp.example/token",
        "headers":{"Content-Type":"application/x-www-form-urlencoded","X-Trace":"1"},
        "body":"grant_type=client_credentials","timeout_ms":1500,
        "tls":{"ca_file":")" + (tlsFiles / "ca.pem") + R"(","cert_file":")" + (tlsFiles / "c.pem") +
                                       R"(","key_file":")" + (tlsFiles / "k.pem") + R"(","key_password":"pw"}})",
                                   milliseconds(5000));
    CHECK_JSON(out, R"({"status":201,"headers":{"content-type":"application/json","x-multi":"a, b"},)"
                    R"("body":"{\"access_token\":\"abc\"}"})");
    const auto requests = fake->Requests();
    REQUIRE(requests.size() == 1);
    const auto& request = requests[0];
    CHECK(request.method == "POST");
    CHECK(request.url == "https://idp.example/token");
    CHECK(request.body == "grant_type=client_credentials");
    CHECK(request.timeout == milliseconds(1500));
    CHECK(request.connectTimeout <= milliseconds(1500));
    CHECK(request.headers.size() == 2);
    CHECK(request.tls.verifyPeer);  // on unless the script says verify = false
    // The engine read the files (allowlist checked); libcurl gets contents, never a path.
    CHECK(request.tls.caBundlePem == "CA PEM TEXT");
    CHECK(request.tls.clientCertificatePem == "CERT PEM TEXT");
    CHECK(request.tls.clientKeyPem == "KEY PEM TEXT");
    CHECK(request.tls.caBundle.empty());
    CHECK(request.tls.clientCertificate.empty());
    CHECK(request.tls.clientKey.empty());
    CHECK(request.tls.clientKeyPassword == "pw");
  }
  SECTION("defaults: GET, verification on") {
    CHECK_JSON(b.Call(R"({"url":"http://127.0.0.1:9/x"})"), R"({"status":200,"headers":{},"body":"ok"})");
    const auto request = fake->Requests().at(0);
    CHECK(request.method == "GET");
    CHECK(request.tls.verifyPeer);
  }
  SECTION("verification off only when asked") {
    b.Call(R"({"url":"https://h/","tls":{"verify":false}})");
    CHECK_FALSE(fake->Requests().at(0).tls.verifyPeer);
  }
  SECTION("timeout is capped by the remaining budget") {
    b.Call(R"({"url":"https://h/","timeout_ms":60000})", milliseconds(300));
    const auto request = fake->Requests().at(0);
    CHECK(request.timeout <= milliseconds(300));
    CHECK(request.timeout > milliseconds(200));
    CHECK(request.connectTimeout <= request.timeout);
  }
  SECTION("a shorter requested timeout is kept") {
    b.Call(R"({"url":"https://h/","timeout_ms":50})", milliseconds(3000));
    CHECK(fake->Requests().at(0).timeout == milliseconds(50));
  }
  SECTION("no budget left: the call fails with LUA-004 without a request") {
    fake->respond = [](const gw::http::HttpRequest& r) -> gw::Result<gw::http::HttpResponse> {
      std::this_thread::sleep_for(r.timeout + milliseconds(20));  // uses up the whole budget
      return gw::MakeError("NET-002", "timed out");
    };
    TempDir dir;
    dir.Write("twice.lua", Policy("twice", R"(
      local r1, e1 = gw.http.request{ url = "https://h/1" }
      local ok = pcall(gw.http.request, { url = "https://h/2" })
      return { first = e1 and e1.code, second_ok = ok })"));
    EngineOptions options = OptionsFor(dir);
    options.http = fake;
    ScriptEngine engine(options);
    REQUIRE(engine.Reload());
    const auto start = std::chrono::steady_clock::now();
    CHECK(CallText(engine, "twice", "decide", "{}", milliseconds(150)) == "ERR LUA-004");
    CHECK(MillisecondsSince(start) < 1000);
    CHECK(fake->Requests().size() == 1);
  }
  SECTION("transport errors are values") {
    fake->respond = [](const gw::http::HttpRequest&) -> gw::Result<gw::http::HttpResponse> {
      return gw::MakeError("NET-001", "could not connect to idp.example");
    };
    CHECK_JSON(b.Call(R"({"url":"https://idp.example/"})"),
               R"({"failed":true,"code":"NET-001","message":"could not connect to idp.example"})");
  }
  SECTION("only http and https") {
    for (const char* url : {"file:///etc/passwd", "ftp://h/", "gopher://h", "//h/x", "httpx://h", ""}) {
      INFO(url);
      const std::string out = b.Call(std::string("{\"url\":\"") + url + "\"}");
      CHECK_THAT(out, Catch::Contains("NET-004"));
    }
    CHECK(fake->Requests().empty());
    b.Call(R"({"url":"HTTPS://h/"})");
    CHECK(fake->Requests().size() == 1);
  }
  SECTION("malformed options raise") {
    for (const char* arg : {R"({})", R"({"url":5})", R"({"url":"https://h","headers":{"A":1}})",
                            R"({"url":"https://h","headers":{"Bad Name":"v"}})",
                            R"({"url":"https://h","headers":{"X":"a\r\nInjected: 1"}})",
                            R"({"url":"https://h","timeout_ms":0})", R"({"url":"https://h","timeout_ms":1.5})",
                            R"({"url":"https://h","method":"GE T"})", R"({"url":"https://h","tls":true})",
                            R"({"url":"https://h","tls":{"verify":"no"}})"}) {
      INFO(arg);
      CHECK(b.Call(arg) == "ERR LUA-006");
    }
    CHECK(fake->Requests().empty());
  }
  SECTION("header values are not echoed in errors") {
    const auto arg = Json(R"({"url":"https://h","headers":{"Authorization":"Bearer sekrit-token\n"}})");
    auto r = b.engine->Call("probe", "decide", arg);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.GetError().message, Catch::Contains("Authorization") && !Catch::Contains("sekrit-token"));
  }
  RequireBalanced(*b.engine);
}

TEST_CASE("LuaBindings/gw.http.request without a client", "[lua][bindings]") {
  Bound b;
  b.Load("return gw.http.request{ url = 'https://h/' }");
  CHECK(b.Call() == "ERR LUA-006");
}

TEST_CASE("Hardening: gw.http TLS file options go through the gw.file.read allowlist", "[lua][bindings]") {
  namespace fs = std::filesystem;
  TempDir files;
  files.Write("allowed/ca.pem", "CA PEM TEXT");
  files.Write("allowed/empty.pem", "");
  files.Write("allowed/big.pem", std::string(1024 * 1024 + 1, 'x'));
  files.Write("outside/key.pem", "PRIVATE KEY OUTSIDE");
  fs::create_symlink(files / "outside/key.pem", files / "allowed/link-out.pem");
  ::mkfifo((files / "allowed/fifo").c_str(), 0600);
  auto fake = std::make_shared<FakeHttpClient>();
  Bound b;
  b.options.http = fake;
  b.options.fileAllowlist = {files / "allowed"};
  // Returns the error of gw.http.request with tls[arg.option] = arg.path, and that of
  // gw.file.read(arg.path), so the two can be compared.
  b.Load(R"(
    local tls = {}
    tls[arg.option] = arg.path
    local ok, err = pcall(gw.http.request, { url = "https://idp.example/token", tls = tls })
    local read_ok, read_err = pcall(gw.file.read, arg.path)
    return { ok = ok, err = ok and "" or err, read_ok = read_ok, read_err = read_ok and "" or read_err })");
  auto attempt = [&](const char* option, const std::string& path) {
    return Json(b.Call(std::string("{\"option\":\"") + option + "\",\"path\":\"" + path + "\"}").c_str());
  };
  for (const char* option : {"ca_file", "cert_file", "key_file"}) {
    for (const auto& [path, reason] : std::vector<std::pair<std::string, std::string>>{
             {files / "outside/key.pem", "outside the folders scripts may read"},
             {files / "allowed/../outside/key.pem", "outside the folders scripts may read"},
             {files / "allowed/link-out.pem", "outside the folders scripts may read"},
             {files / "allowed/missing.pem", "No such file"},
             {files / "allowed/big.pem", "larger than 1 MiB"},
             {files / "allowed/fifo", "not a regular file"},
             {files / "allowed", "not a regular file"},
             {"relative.pem", "No such file"}}) {
      INFO(option << " " << path);
      const auto r = attempt(option, path);
      REQUIRE(r.IsObject());
      CHECK_FALSE(r["ok"].GetBool());
      CHECK_FALSE(r["read_ok"].GetBool());
      const std::string err = r["err"].GetString();
      const std::string readErr = r["read_err"].GetString();
      CHECK_THAT(err, Catch::Contains(reason));
      // The same error as gw.file.read, under the name of the function that was called.
      const std::string tail = readErr.substr(readErr.find("gw.file.read: ") + std::string("gw.file.read: ").size());
      CHECK_THAT(err, Catch::Contains("gw.http.request: " + tail));
      CHECK_THAT(err, !Catch::Contains("PRIVATE KEY OUTSIDE"));
    }
    const auto empty = attempt(option, files / "allowed/empty.pem");
    CHECK_FALSE(empty["ok"].GetBool());
    CHECK_THAT(empty["err"].GetString(), Catch::Contains(std::string("tls.") + option + " names an empty file"));
    CHECK(attempt(option, files / "allowed/ca.pem")["ok"].GetBool());
  }
  // Refused options never reached the HTTP client: only the three allowed calls did.
  const auto requests = fake->Requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0].tls.caBundlePem == "CA PEM TEXT");
  CHECK(requests[1].tls.clientCertificatePem == "CA PEM TEXT");
  CHECK(requests[2].tls.clientKeyPem == "CA PEM TEXT");

  SECTION("with no allowlist a script cannot name any TLS file") {
    Bound none;
    none.options.http = fake;
    none.Load(R"(return gw.http.request{ url = "https://h/", tls = { ca_file = arg.path } })");
    CHECK(none.Call("{\"path\":\"" + (files / "allowed/ca.pem") + "\"}") == "ERR LUA-006");
    CHECK(fake->Requests().size() == 3);
  }
  RequireBalanced(*b.engine);
}

TEST_CASE("Hardening: a Basic credential a script sends is masked everywhere", "[lua][bindings]") {
  auto fake = std::make_shared<FakeHttpClient>();
  Bound b;
  b.options.http = fake;
  b.Load(R"(
    if arg.mode == "helper" then return { header = gw.http.basic_auth(arg.user, arg.password) } end
    if arg.mode == "mask" then return { masked = gw.http.mask(arg.text) } end
    local header = "Basic " .. gw.base64.encode(arg.user .. ":" .. arg.password)
    local r = gw.http.request { url = "https://idp.example/token", headers = { authorization = header } }
    return { status = r.status, header = header })");
  // base64("hand-built:hand-built-secret-91"), computed independently (Python's base64).
  const std::string handBuilt = "aGFuZC1idWlsdDpoYW5kLWJ1aWx0LXNlY3JldC05MQ==";
  CHECK(gw::SecretRegistry::Redact(handBuilt) == handBuilt);  // nothing registered yet
  const auto sent = Json(b.Call(R"({"mode":"send","user":"hand-built","password":"hand-built-secret-91"})").c_str());
  CHECK(std::string(sent["header"].GetString()) == "Basic " + handBuilt);
  CHECK(gw::SecretRegistry::Redact("Authorization: Basic " + handBuilt) == "Authorization: Basic ***");
  CHECK(gw::SecretRegistry::Redact("password hand-built-secret-91") == "password ***");

  // base64("helper-id:helper-secret-77")
  const std::string helper = "aGVscGVyLWlkOmhlbHBlci1zZWNyZXQtNzc=";
  const auto built = Json(b.Call(R"({"mode":"helper","user":"helper-id","password":"helper-secret-77"})").c_str());
  CHECK(std::string(built["header"].GetString()) == "Basic " + helper);
  CHECK(gw::SecretRegistry::Redact(helper) == "***");
  // gw.http.mask is the registry's masking, derived forms included.
  const auto masked = Json(b.Call(R"({"mode":"mask","text":"echo: Basic )" + helper + R"( and helper-secret-77"})").c_str());
  CHECK(std::string(masked["masked"].GetString()) == "echo: Basic *** and ***");
  CHECK(b.Call(R"({"mode":"helper","user":"a:b","password":"x"})") == "ERR LUA-006");  // RFC 7617: no ':' in the user
  for (const char* s : {"hand-built:hand-built-secret-91", "hand-built-secret-91", "helper-id:helper-secret-77",
                        "helper-secret-77"}) {
    gw::SecretRegistry::Remove(s);
  }
  RequireBalanced(*b.engine);
}

TEST_CASE("LuaBindings/gw.log", "[lua][bindings]") {
  ScopedSink sink;
  Bound b;
  b.Load(R"(
    gw.log("info", "hello " .. arg.n)
    gw.log("warning", 42)
    gw.log("debug", string.rep("z", 10000))
    gw.log("INFO", "first\nerror forged line\r")
    local ok = pcall(gw.log, "loud", "x")
    local ok2 = pcall(gw.log, "info", {})
    return { bad_level = ok, bad_message = ok2 })");
  CHECK_JSON(b.Call(R"({"n":"world"})"), R"({"bad_level":false,"bad_message":false})");
  CHECK(sink->Count("info [lua:probe] hello world") == 1);
  CHECK(sink->Count("warning [lua:probe] 42") == 1);
  CHECK(sink->Count("(truncated)") == 1);
  CHECK(sink->Count("info [lua:probe] first\\nerror forged line\\r") == 1);
}

TEST_CASE("LuaBindings/gw.time", "[lua][bindings]") {
  Bound b;
  b.Load(R"(
    local a = gw.time.monotonic_ms()
    local t = gw.time.now()
    local b = gw.time.monotonic_ms()
    return { now = t, frac = math.type(t), mono = math.type(a), ordered = b >= a })");
  const auto r = Json(b.Call().c_str());
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(std::abs(r["now"].GetDouble() - now) < 5.0);
  CHECK(std::string(r["frac"].GetString()) == "float");
  CHECK(std::string(r["mono"].GetString()) == "integer");
  CHECK(r["ordered"].GetBool());
}

TEST_CASE("LuaBindings/gw.time.sleep and remaining_ms stay inside the call's budget", "[lua][bindings]") {
  Bound b;
  b.Load(R"(
    local before = gw.time.remaining_ms()
    local slept = gw.time.sleep(arg.seconds)
    local ok_neg = pcall(gw.time.sleep, -1)
    local ok_str = pcall(gw.time.sleep, "1")
    return { before = before, slept = slept, after = gw.time.remaining_ms(), type = math.type(before),
             neg = ok_neg, str = ok_str })");
  SECTION("a short sleep") {
    const auto r = Json(b.Call(R"({"seconds":0.1})", milliseconds(2000)).c_str());
    CHECK(std::string(r["type"].GetString()) == "integer");
    CHECK(r["before"].GetInt64() > 1500);
    CHECK(r["before"].GetInt64() <= 2000);
    CHECK(r["slept"].GetDouble() >= 0.1);
    CHECK(r["slept"].GetDouble() < 1.0);
    CHECK(r["before"].GetInt64() - r["after"].GetInt64() >= 100);
    CHECK_FALSE(r["neg"].GetBool());
    CHECK_FALSE(r["str"].GetBool());
  }
  SECTION("a sleep longer than the budget ends at the deadline") {
    const auto start = std::chrono::steady_clock::now();
    const std::string out = b.Call(R"({"seconds":30})", milliseconds(300));
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= milliseconds(250));
    CHECK(took < milliseconds(2000));
    // Either the engine stops the call (LUA-004), or the few instructions left finish and report
    // the cut sleep with no budget left.
    if (out != "ERR LUA-004") {
      const auto r = Json(out.c_str());
      CHECK(r["slept"].GetDouble() < 0.35);
      CHECK(r["after"].GetInt64() == 0);
    }
  }
}
