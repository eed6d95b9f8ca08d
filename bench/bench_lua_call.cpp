// Latency of a trivial policy call through ScriptEngine::Call (one thread, warm pool):
// a JSON argument becomes a Lua table, decide() returns a small table, which becomes JSON again.
// Prints median and p99 in nanoseconds. Usage: bench_lua_call [iterations]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "BenchSupport.h"
#include "gw/lua/ScriptEngine.h"

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
  auto folder = gw::bench::TempFolder::Create("lua");
  if (!folder) return 1;
  {
    std::ofstream out(folder->Path() + "/policy.lua");
    out << "local M = { name = 'trivial', version = '1', kind = 'policy' }\n"
           "function M.decide(req)\n"
           "  return { allow = req.method == 'GET', reason = 'ok' }\n"
           "end\n"
           "return M\n";
  }
  const auto engine = gw::bench::LoadScripts(folder->Path());
  folder->Remove();
  if (!engine) return 1;

  rapidjson::Document arg;
  arg.Parse(R"({"method":"GET","server":"azure","path":"/studies"})");
  for (int i = 0; i < 10000; ++i) {  // warm-up
    if (!engine->Call("trivial", "decide", arg)) return 1;
  }
  std::vector<long long> samples;
  samples.reserve(static_cast<size_t>(iterations));
  for (long i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto result = engine->Call("trivial", "decide", arg);
    const auto end = std::chrono::steady_clock::now();
    if (!result) return 1;
    samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
  }
  const gw::bench::Percentiles p = gw::bench::Summarize(std::move(samples));
  std::printf("%s trivial Call(): %ld iterations, median %lld ns, p99 %lld ns, p99.9 %lld ns\n",
              gw::lua::ScriptEngine::LuaVersion().c_str(), iterations, p.median, p.p99, p.p999);
  return 0;
}
