// Cost of the sandbox's deadline-aware pattern matching (core/src/lua/PatternMatch) against Lua's
// own string library, on the matches scripts really do. Two plain states run the same Lua loop,
// one with Lua's find/match/gmatch/gsub and one with the sandbox's; the empty loop is subtracted.
// Prints the median of `runs` timings per workload in nanoseconds per call (runs alternate).
// Usage: bench_pattern [iterations] [runs]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <lua.hpp>

#include "lua/CallContext.h"
#include "lua/PatternMatch.h"

namespace {

struct Workload {
  const char* name;
  const char* body;  // runs `n` times inside the loop; `s` is the subject
  const char* subject;
};

const Workload kWorkloads[] = {
    {"policy path match", R"L(local a, b = s:match("^/studies/([^/]+)/series/([^/]+)"))L",
     "/studies/1.2.840.113619.2.55.3.604688119/series/1.2.840.113619.2.55.3.604688119.3/instances/1.2.3"},
    {"unanchored find %d+", R"L(local a, b = s:find("%d+"))L",
     "Bearer token for the server named primary-archive, expires in 3600 seconds"},
    {"plain find", R"L(local a, b = s:find("/series/", 1, true))L",
     "/studies/1.2.840.113619.2.55.3.604688119/series/1.2.840.113619.2.55.3.604688119.3"},
    {"gsub %s+", R"L(local r = s:gsub("%s+", " "))L",
     "  a   header value   with   runs of    spaces   and\ttabs  to   squeeze  "},
    {"gmatch path segments", R"L(for seg in s:gmatch("[^/]+") do end)L",
     "/studies/1.2.840.113619.2.55.3.604688119/series/1.2.840.113619.2.55.3.604688119.3/instances/1.2.3"},
};

lua_State* NewState(bool ours) {
  lua_State* L = luaL_newstate();
  gw::lua::SetCurrentContext(L, nullptr);  // no call context, so no deadline (Lua leaves it uninitialised)
  luaL_requiref(L, "_G", luaopen_base, 1);
  luaL_requiref(L, "string", luaopen_string, 1);
  if (ours) gw::lua::InstallPatternFunctions(L, -1);
  lua_settop(L, 0);
  return L;
}

// Nanoseconds per iteration of `body` (one timed run of `iterations`).
double Measure(lua_State* L, const std::string& body, const char* subject, long iterations) {
  const std::string chunk = "local s, n = ...\nfor i = 1, n do " + body + " end";
  if (luaL_loadstring(L, chunk.c_str()) != LUA_OK) {
    std::fprintf(stderr, "bad workload: %s\n", lua_tostring(L, -1));
    std::exit(1);
  }
  lua_pushstring(L, subject);
  lua_pushinteger(L, iterations);
  const auto start = std::chrono::steady_clock::now();
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    std::fprintf(stderr, "workload failed: %s\n", lua_tostring(L, -1));
    std::exit(1);
  }
  const auto end = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(end - start).count() / static_cast<double>(iterations);
}

double Median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 1000000;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 7;
  lua_State* lua = NewState(false);
  lua_State* ours = NewState(true);
  std::printf("%-24s %12s %12s %8s\n", "workload (ns per call)", "Lua", "sandbox", "ratio");
  for (const Workload& w : kWorkloads) {
    // Runs alternate between the two states so that a change in machine load hits both alike; the
    // empty loop's cost is measured the same way and subtracted.
    std::vector<double> lua5, sandbox;
    for (int r = 0; r < runs; ++r) {
      lua5.push_back(Measure(lua, w.body, w.subject, iterations) - Measure(lua, "", w.subject, iterations));
      sandbox.push_back(Measure(ours, w.body, w.subject, iterations) - Measure(ours, "", w.subject, iterations));
    }
    const double a = Median(lua5);
    const double b = Median(sandbox);
    std::printf("%-24s %12.1f %12.1f %8.2f\n", w.name, a, b, b / a);
  }
  lua_close(lua);
  lua_close(ours);
  return 0;
}
