// The sandbox's string.find/match/gmatch/gsub (lua/PatternMatch) against Lua's own string library:
// thousands of hand-picked and random (seeded) calls must give the same values and the same errors.
#include <pthread.h>

#include <climits>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <lua.hpp>

#include "lua/CallContext.h"
#include "lua/PatternMatch.h"

using gw::lua::InstallPatternFunctions;

namespace {

// Runs one call in a state and describes everything it returned (or its error) as text. The
// replacement tables and functions (REPL[i]) exercise every kind of gsub replacement value.
constexpr const char* kHarness = R"LUA(
local select, type, tostring, pcall = select, type, tostring, pcall
local fmt = string.format

REPL = {
  { a = "A", b = false, ab = "<ab>", x = 7, [""] = "E" },
  setmetatable({}, { __index = function(_, k) return type(k) == "string" and #k > 1 and "[" .. k .. "]" or nil end }),
  function(...) local n = select("#", ...) local s = n .. ":" for i = 1, n do s = s .. tostring((select(i, ...))) .. "," end return s end,
  function(a) if a == "a" then return nil end if a == "b" then return false end return "<" .. tostring(a) .. ">" end,
  function() return {} end,
  { a = true },
  function(a, b) return b end,
  function() return 3.5 end,
}

local function describe(ok, ...)
  local n = select("#", ...)
  local out = tostring(ok) .. "#" .. n
  for i = 1, n do
    local v = select(i, ...)
    local t = math.type(v) or type(v)
    out = out .. " " .. t .. ":" .. (t == "string" and fmt("%q", v) or tostring(v))
  end
  return out
end

local gmatchPacked = function(...) return select("#", ...), { ... } end

function RUN(kind, method, n, ...)
  local args = { ... }
  if kind == "gmatch" then
    local ok, it = pcall(string.gmatch, table.unpack(args, 1, n))
    if not ok then return describe(false, it) end
    local out = ""
    for _ = 1, 64 do
      local r = table.pack(pcall(it))
      if not r[1] then return out .. " | " .. describe(false, r[2]) end
      out = out .. " | " .. describe(table.unpack(r, 1, r.n))
      if r.n == 1 then return out end
    end
    return out .. " | (stopped)"
  end
  if method then
    -- s:fn(...) syntax: argument errors name the method and do not count self
    local s = args[1]
    return describe(pcall(function() return s[kind](s, table.unpack(args, 2, n)) end))
  end
  return describe(pcall(string[kind], table.unpack(args, 1, n)))
end
)LUA";

struct Arg {
  enum Kind { Nil, String, Integer, Float, Boolean, Replacement } kind;
  std::string text;
  lua_Integer integer = 0;
  double number = 0;
};

Arg Str(std::string s) { return Arg{Arg::String, std::move(s)}; }
Arg Int(lua_Integer i) { return Arg{Arg::Integer, {}, i}; }
Arg Num(double d) { return Arg{Arg::Float, {}, 0, d}; }
Arg Bool(bool b) { return Arg{Arg::Boolean, {}, b ? 1 : 0}; }
Arg NilArg() { return Arg{Arg::Nil, {}}; }
Arg Repl(int index) { return Arg{Arg::Replacement, {}, index}; }

struct Case {
  std::string kind;  // find, match, gmatch, gsub
  std::vector<Arg> args;
  bool method = false;
};

std::string Show(const Case& c) {
  std::string out = c.kind + (c.method ? " (method)" : "") + "(";
  for (const Arg& a : c.args) {
    switch (a.kind) {
      case Arg::Nil: out += "nil"; break;
      case Arg::String: {
        out += '"';
        for (unsigned char ch : a.text) {
          if (ch < 32 || ch > 126) out += "\\" + std::to_string(ch);
          else out += static_cast<char>(ch);
        }
        out += '"';
        break;
      }
      case Arg::Integer: out += std::to_string(a.integer); break;
      case Arg::Float: out += std::to_string(a.number); break;
      case Arg::Boolean: out += a.integer ? "true" : "false"; break;
      case Arg::Replacement: out += "REPL[" + std::to_string(a.integer) + "]"; break;
    }
    out += ", ";
  }
  return out + ")";
}

class State {
 public:
  explicit State(bool ours) : L_(luaL_newstate()) {
    gw::lua::SetCurrentContext(L_, nullptr);  // no call context: no deadline (Lua leaves it uninitialised)
    luaL_requiref(L_, "_G", luaopen_base, 1);
    luaL_requiref(L_, "string", luaopen_string, 1);
    if (ours) InstallPatternFunctions(L_, -1);
    luaL_requiref(L_, "table", luaopen_table, 1);
    luaL_requiref(L_, "math", luaopen_math, 1);
    lua_settop(L_, 0);
    if (luaL_dostring(L_, kHarness) != LUA_OK) throw std::runtime_error(lua_tostring(L_, -1));
  }
  ~State() { lua_close(L_); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  // The C function behind string.<name>.
  lua_CFunction Function(const char* name) {
    lua_getglobal(L_, "string");
    lua_getfield(L_, -1, name);
    const lua_CFunction f = lua_tocfunction(L_, -1);
    lua_settop(L_, 0);
    return f;
  }

  std::string Run(const Case& c) {
    lua_settop(L_, 0);
    lua_getglobal(L_, "RUN");
    lua_pushstring(L_, c.kind.c_str());
    lua_pushboolean(L_, c.method);
    lua_pushinteger(L_, static_cast<lua_Integer>(c.args.size()));
    for (const Arg& a : c.args) {
      switch (a.kind) {
        case Arg::Nil: lua_pushnil(L_); break;
        case Arg::String: lua_pushlstring(L_, a.text.data(), a.text.size()); break;
        case Arg::Integer: lua_pushinteger(L_, a.integer); break;
        case Arg::Float: lua_pushnumber(L_, a.number); break;
        case Arg::Boolean: lua_pushboolean(L_, static_cast<int>(a.integer)); break;
        case Arg::Replacement:
          lua_getglobal(L_, "REPL");
          lua_rawgeti(L_, -1, a.integer);
          lua_remove(L_, -2);
          break;
      }
    }
    if (lua_pcall(L_, 3 + static_cast<int>(c.args.size()), 1, 0) != LUA_OK) {
      return std::string("harness error: ") + lua_tostring(L_, -1);
    }
    size_t length = 0;
    const char* text = lua_tolstring(L_, -1, &length);
    std::string out(text, length);
    lua_settop(L_, 0);
    return out;
  }

 private:
  lua_State* L_;
};

struct Pair {
  State reference{false};
  State ours{true};
  int compared = 0;

  void Check(const Case& c) {
    const std::string expected = reference.Run(c);
    const std::string actual = ours.Run(c);
    ++compared;
    if (expected != actual) {
      INFO("call: " << Show(c));
      INFO("Lua:  " << expected);
      INFO("ours: " << actual);
      CHECK(expected == actual);
    }
  }
};

Case Find(std::string s, std::string p) { return Case{"find", {Str(std::move(s)), Str(std::move(p))}}; }

// ---- hand-picked cases ----------------------------------------------------------------------------

const std::vector<std::string> kSubjects = {
    "",
    "a",
    "hello world",
    "  trim me  ",
    "/studies/1.2.840/series/3.4.5/instances/6",
    "key=value; other = thing ;x=",
    "THE (quick) [brown] {fox} %jumps% over the lazy dog 1234567890 !?",
    "f(a(b)c)d(e",
    "aaa",
    "abcabcabc",
    "a.b-c+d*e?f^g$h[i]j%k",
    std::string("nul\0inside\0", 11),
    "\t\r\n\v\f \x01\x7f\x80\xff",
    "THE END",
    "x=1, y=22, z=333",
    "  ",
    "%%",
    "123abc456",
    "hello",
};

const std::vector<std::string> kPatterns = {
    // plain characters, '.', anchors
    "", "a", "l", "hello", "o w", ".", "..", "^h", "^", "$", "^$", "d$", "$a", "a$b", "^^", "^a^", "x^",
    // classes and their complements
    "%a", "%A", "%c", "%C", "%d", "%D", "%g", "%G", "%l", "%L", "%p", "%P", "%s", "%S", "%u", "%U", "%w",
    "%W", "%x", "%X", "%z", "%.", "%%", "%]", "%-", "%a+", "%d+", "%s*", "%S+", "%w+%s", "%x%x", "%p+",
    // sets
    "[abc]", "[^abc]", "[a-c]+", "[%a_][%w_]*", "[]]", "[^]]", "[]a]", "[a-]", "[-a]", "[%]]", "[%-]", "[a%-z]",
    "[%d%.]+", "[^%s]+", "[^/]+", "[z-a]", "[a-a]", "[%a-z]", "[\x80-\xff]+", "[^%z]", "[.]", "[$^]", "[^^]",
    // quantifiers
    "a*", "a+", "a-", "a?", ".*", ".+", ".-", ".?", "a-b", "a*b", "a?a?a?aaa", "%s*(.-)%s*$", "^%s*(.-)%s*$",
    "(.-)%s", "[^;]*", "x*", "x-$", ".-$", "^.-", "a**", "a+?", "*a", "+", "-", "?",
    // captures
    "()", "(a)", "(a)(b)", "((a)(b))", "()a()", "(h)(e)(l)(l)(o)", "(%w+)=(%w*)", "^/studies/([^/]+)/series/([^/]+)",
    "(", ")", "(()", "a)", "((a)", "(a))", "%)", "%(", "(.)%1", "(a)%1", "(%w)%1", "(.)(.)%2%1", "(.-)%1",
    "%1", "(a%1)", "()%1", "%0", "(a)%2", "((.)%2)", "(.)%9",
    // %b and %f
    "%b()", "%b[]", "%b{}", "%b%%", "%baa", "%b", "%b(", "%b()+", "f%b()", "%f[%w]%w+", "%f[%W]", "%f[%a]",
    "%f[^%z]", "%f[%z]", "%f[%s]", "%f", "%fa", "%f[", "%f[a", "%f[]", "%f[^a]a",
    // embedded zeros, classes Lua keeps without documenting (%z), upper-case letters that are no class
    std::string("\0", 1), std::string("a\0", 2), std::string("[\0-a]+", 6), std::string("%b\0)", 4), "%z", "%Z+",
    "[%z]", "%B", "%F", "%Q", "%E", "%1%",
    // malformed
    "%", "a%", "[", "[a", "[^", "[^a", "[%", "[a%", "[]", "[^]", "%b(", "(%b", "[%a", "[a-",
};

std::vector<Case> HandPicked() {
  std::vector<Case> cases;
  const std::vector<Arg> inits = {NilArg(), Int(1), Int(0), Int(-1), Int(-3), Int(-100), Int(2), Int(5), Int(11),
                                  Int(12), Int(13), Int(100), Int(LUA_MAXINTEGER), Int(LUA_MININTEGER)};
  for (const std::string& s : kSubjects) {
    for (const std::string& p : kPatterns) {
      cases.push_back(Find(s, p));
      cases.push_back(Case{"match", {Str(s), Str(p)}});
      cases.push_back(Case{"gmatch", {Str(s), Str(p)}});
      cases.push_back(Case{"gsub", {Str(s), Str(p), Str("<%0>")}});
      cases.push_back(Case{"find", {Str(s), Str(p), Int(1), Bool(true)}});
    }
    for (const Arg& init : inits) {
      for (const char* p : {"", "l", "o", "%w+", "^.", ".-$", "()", "$"}) {
        cases.push_back(Case{"find", {Str(s), Str(p), init}});
        cases.push_back(Case{"find", {Str(s), Str(p), init, Bool(true)}});
        cases.push_back(Case{"match", {Str(s), Str(p), init}});
        cases.push_back(Case{"gmatch", {Str(s), Str(p), init}});
      }
    }
  }
  // find's plain flag: any true value, special characters taken literally
  for (const Arg& plain : {Bool(true), Bool(false), NilArg(), Int(0), Str(""), Repl(1)}) {
    cases.push_back(Case{"find", {Str("a.b(c)%d[e]"), Str("("), Int(1), plain}});
    cases.push_back(Case{"find", {Str("a.b(c)%d[e]"), Str("%d"), Int(1), plain}});
    cases.push_back(Case{"find", {Str("a.b(c)%d[e]"), Str("[e]"), Int(1), plain}});
    cases.push_back(Case{"find", {Str("a.b(c)%d[e]"), Str(".b("), Int(-20), plain}});
  }
  // plain search on subjects short and long (a long one takes another path)
  for (size_t n : {0, 1, 255, 256, 257, 1000, 5000}) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += "ab"[i % 2];
    s += "abc.(needle)%a";
    for (size_t i = 0; i < n; ++i) s += "ba"[i % 3 == 0];
    for (const char* needle : {"", "a", "abc", "abc.(", "(needle)%a", "%a", "ba", "bb", "abb", "zzz", "b"}) {
      for (const Arg& init : {NilArg(), Int(2), Int(static_cast<lua_Integer>(n)), Int(-300), Int(-3)}) {
        cases.push_back(Case{"find", {Str(s), Str(needle), init, Bool(true)}});
      }
      cases.push_back(Find(s, needle));
    }
  }
  // gsub: replacement strings, numbers, tables, functions, counts
  const std::vector<Arg> replacements = {
      Str(""), Str("x"), Str("%0"), Str("%1"), Str("%2"), Str("<%1|%2>"), Str("%%"), Str("%"), Str("a%"),
      Str("%x"), Str("%9"), Str("%1%1"), Str("%%1"), Str(std::string("a\0b", 3)), Int(7), Num(2.5), Repl(1),
      Repl(2), Repl(3), Repl(4), Repl(5), Repl(6), Repl(7), Repl(8), NilArg(), Bool(true)};
  const std::vector<std::string> gsubPatterns = {"", "a", "b", "ab", "%w+", "(%w+)", "(a)(b)", "()", "(a)()",
                                                 "^a", "^", "$", ".-", "a*", "x*", "(b*)", "%f[%w]", "()a*()"};
  for (const std::string& s : {std::string(""), std::string("abc ab  b"), std::string("aaa"), std::string("xbx")}) {
    for (const std::string& p : gsubPatterns) {
      for (const Arg& r : replacements) cases.push_back(Case{"gsub", {Str(s), Str(p), r}});
      for (const Arg& n : {Int(0), Int(1), Int(2), Int(-1), Int(100), Num(1.0), Num(1.5), Str("2"), Str("x"), NilArg()}) {
        cases.push_back(Case{"gsub", {Str(s), Str(p), Str("[%0]"), n}});
        cases.push_back(Case{"gsub", {Str(s), Str(p), Repl(3), n}});
      }
    }
  }
  // argument errors and conversions (numbers are accepted as strings)
  cases.push_back(Case{"find", {}});
  cases.push_back(Case{"find", {Str("a")}});
  cases.push_back(Case{"find", {NilArg(), Str("a")}});
  cases.push_back(Case{"find", {Int(12345), Int(3)}});
  cases.push_back(Case{"find", {Num(1.5), Str("%.")}});
  cases.push_back(Case{"find", {Str("abc"), Str("b"), Num(1.5)}});
  cases.push_back(Case{"find", {Str("abc"), Str("b"), Str("2")}});
  cases.push_back(Case{"find", {Str("abc"), Str("b"), Str("x")}});
  cases.push_back(Case{"find", {Str("abc"), Repl(1)}});
  cases.push_back(Case{"match", {Int(2024), Str("%d%d")}});
  cases.push_back(Case{"match", {Bool(true), Str("a")}});
  cases.push_back(Case{"gmatch", {}});
  cases.push_back(Case{"gmatch", {Str("a")}});
  cases.push_back(Case{"gmatch", {Int(123), Int(2)}});
  cases.push_back(Case{"gmatch", {Str("abc"), Str("."), Str("x")}});
  cases.push_back(Case{"gsub", {}});
  cases.push_back(Case{"gsub", {Str("a")}});
  cases.push_back(Case{"gsub", {Str("a"), Str("a")}});
  cases.push_back(Case{"gsub", {Str("a"), Str("a"), NilArg(), Str("x")}});
  cases.push_back(Case{"gsub", {Int(1234), Int(2), Int(9)}});
  cases.push_back(Case{"gsub", {Str("abc"), Str("b"), Str("x"), Num(1e300)}});
  // the same through s:method() syntax (argument errors count differently)
  for (const char* kind : {"find", "match", "gsub"}) {
    cases.push_back(Case{kind, {Str("hello"), Str("l+"), Str("L")}, true});
    cases.push_back(Case{kind, {Str("hello"), Repl(1)}, true});
    cases.push_back(Case{kind, {Str("hello")}, true});
    cases.push_back(Case{kind, {Str("hello"), Str("(")}, true});
    cases.push_back(Case{kind, {Str("hello"), Str("l"), Str("bad")}, true});
  }
  // limits: 32 captures, 33 captures, nesting depth around Lua's bound of 200
  std::string captures32;
  for (int i = 0; i < 32; ++i) captures32 += "()";
  cases.push_back(Find("abc", captures32));
  cases.push_back(Find("abc", captures32 + "()"));
  cases.push_back(Case{"gsub", {Str("abc"), Str(captures32), Repl(3)}});
  cases.push_back(Case{"gsub", {Str("abc"), Str(captures32 + "()"), Str("x")}});
  for (int n : {50, 99, 100, 101, 150, 198, 199, 200, 201, 202, 250, 400}) {
    std::string optional;
    for (int i = 0; i < n; ++i) optional += "a?";
    const std::string as(static_cast<size_t>(n), 'a');
    cases.push_back(Find(as, optional));
    cases.push_back(Find(as + "b", optional + "b"));
    std::string nested;
    for (int i = 0; i < n && i < 32; ++i) nested += "(";
    cases.push_back(Find(as, nested + std::string(static_cast<size_t>(std::min(n, 32)), ')')));
    std::string lazy;
    for (int i = 0; i < n; ++i) lazy += "a-";
    cases.push_back(Find(as, lazy + "$"));
    cases.push_back(Case{"gsub", {Str(as), Str(optional), Str("x")}});
  }
  return cases;
}

// ---- random cases ---------------------------------------------------------------------------------

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  int Below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool Chance(int percent) { return Below(100) < percent; }

  std::string Subject() {
    static const std::string alphabet = std::string("aabbcAB1 2 .%()[]-^$_\t", 23) + std::string("\0\xe9", 2);
    std::string s;
    const int length = Below(14);
    for (int i = 0; i < length; ++i) s += alphabet[static_cast<size_t>(Below(static_cast<int>(alphabet.size())))];
    return s;
  }

  std::string SingleClass() {
    static const char* classes[] = {"a", "b", "c", "A", ".", "%a", "%d", "%s", "%w", "%p", "%x", "%u", "%l", "%c",
                                    "%g", "%A", "%D", "%S", "%W", "%.", "%%", "%(", "%]", "[ab]", "[^ab]", "[a-c]",
                                    "[%a_]", "[^%s]", "[]a]", "[%]]", "[a-]", "[%d.]", " ", "1", "_", "-", "^", "$"};
    return classes[Below(static_cast<int>(sizeof(classes) / sizeof(classes[0])))];
  }

  std::string Item(int depth, int& opened) {
    const int choice = Below(100);
    if (choice < 45) {
      std::string item = SingleClass();
      const int q = Below(10);
      if (q == 0) item += '*';
      else if (q == 1) item += '+';
      else if (q == 2) item += '-';
      else if (q == 3) item += '?';
      return item;
    }
    if (choice < 60 && depth < 3) {
      ++opened;
      std::string inner;
      const int n = Below(3);
      for (int i = 0; i < n; ++i) inner += Item(depth + 1, opened);
      return "(" + inner + ")";
    }
    if (choice < 65) return "()";
    if (choice < 72 && opened > 0) return "%" + std::to_string(1 + Below(opened + 1));
    if (choice < 77) {
      static const char* balanced[] = {"%b()", "%b[]", "%bab", "%b%%", "%baa"};
      return balanced[Below(5)];
    }
    if (choice < 82) {
      static const char* frontiers[] = {"%f[%w]", "%f[%W]", "%f[a]", "%f[^a]", "%f[%z]", "%f[%s]"};
      return frontiers[Below(6)];
    }
    if (choice < 85) {
      // noise: may make the pattern malformed
      static const char* noise[] = {"%", "[", "(", ")", "%b", "%f", "[^", "%9", "%0", "]"};
      return noise[Below(10)];
    }
    return ".-";
  }

  std::string Pattern() {
    std::string p = Chance(20) ? "^" : "";
    int opened = 0;
    const int n = 1 + Below(5);
    for (int i = 0; i < n; ++i) p += Item(0, opened);
    if (Chance(15)) p += "$";
    return p;
  }

  Arg Init(size_t length) {
    switch (Below(8)) {
      case 0: return Int(Below(static_cast<int>(length) + 3));
      case 1: return Int(-Below(static_cast<int>(length) + 3));
      case 2: return Int(static_cast<lua_Integer>(length) + 1);
      default: return NilArg();
    }
  }

  Arg Replacement() {
    static const char* templates[] = {"", "-", "%0", "%1", "%2", "[%1:%2]", "%%", "%", "%x", "%3", "<%0%0>"};
    if (Chance(60)) return Str(templates[Below(11)]);
    return Repl(1 + Below(8));
  }

  Case Next() {
    const std::string s = Subject();
    const std::string p = Pattern();
    switch (Below(4)) {
      case 0: return Case{"find", {Str(s), Str(p), Init(s.size()), Chance(10) ? Bool(true) : NilArg()}};
      case 1: return Case{"match", {Str(s), Str(p), Init(s.size())}};
      case 2: return Case{"gmatch", {Str(s), Str(p), Init(s.size())}};
      default:
        return Case{"gsub", {Str(s), Str(p), Replacement(), Chance(20) ? Int(Below(4) - 1) : NilArg()}};
    }
  }

 private:
  std::mt19937 rng_;
};

}  // namespace

TEST_CASE("PatternMatch/hand-picked calls give Lua's results and errors", "[lua][pattern]") {
  Pair pair;
  for (const Case& c : HandPicked()) pair.Check(c);
  INFO("compared " << pair.compared);
  CHECK(pair.compared > 5000);
}

TEST_CASE("PatternMatch/random calls give Lua's results and errors", "[lua][pattern]") {
  Pair pair;
  for (uint32_t seed : {1u, 2u, 3u, 20240611u}) {
    Generator generator(seed);
    for (int i = 0; i < 5000; ++i) {
      INFO("seed " << seed << ", case " << i);
      pair.Check(generator.Next());
    }
  }
  CHECK(pair.compared == 20000);
}

TEST_CASE("PatternMatch/the harness sees a difference when there is one", "[lua][pattern]") {
  // Guards against a comparison that cannot fail: the two states really run different functions,
  // and the description distinguishes values, types, counts and errors.
  State reference(false);
  State ours(true);
  for (const char* name : {"find", "match", "gmatch", "gsub"}) {
    INFO(name);
    CHECK(reference.Function(name) != nullptr);
    CHECK(ours.Function(name) != nullptr);
    CHECK(reference.Function(name) != ours.Function(name));
  }
  CHECK(reference.Function("rep") == ours.Function("rep"));
  CHECK(reference.Run(Find("hello", "l+")) == "true#2 integer:3 integer:4");
  CHECK(ours.Run(Find("hello", "l+")) == "true#2 integer:3 integer:4");
  CHECK(reference.Run(Case{"match", {Str("key=v"), Str("(%w+)=()")}}) == "true#2 string:\"key\" integer:5");
  CHECK(reference.Run(Find("a", "(")) == "false#1 string:\"unfinished capture\"");
  CHECK(ours.Run(Find("a", "%")) == "false#1 string:\"malformed pattern (ends with '%')\"");
}

TEST_CASE("Hardening: pattern matching at its depth bound fits a small thread stack", "[lua][pattern][limits]") {
  // Plugin callbacks run on Orthanc's HTTP threads, whose stacks are small. The matcher recurses at
  // most 200 levels (then "pattern too complex"), whatever the pattern and subject: on a 256 KiB
  // stack every one of these calls ends normally (an overflow would crash the test), as Lua's do.
  const std::string as(1000, 'a');
  auto repeat = [](const char* item, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += item;
    return out;
  };
  struct Job {
    std::vector<Case> cases;
    std::vector<std::string> results;
    static void* Run(void* self) {
      auto* job = static_cast<Job*>(self);
      State ours(true);
      for (const Case& c : job->cases) job->results.push_back(ours.Run(c));
      return nullptr;
    }
  } job;
  job.cases = {Find(as, repeat("a?", 1000)), Find(as, repeat("a-", 1000) + "$"), Find(as, repeat("a?", 199) + "a"),
               Find(as, repeat("(", 32) + repeat("a?)", 32)), Case{"gsub", {Str(as), Str(repeat("a?", 300)), Str("x")}},
               Case{"gmatch", {Str(as), Str(repeat("a*", 150))}}};
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, 256 * 1024);
  pthread_t thread;
  REQUIRE(pthread_create(&thread, &attributes, &Job::Run, &job) == 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attributes);
  REQUIRE(job.results.size() == job.cases.size());
  State reference(false);
  for (size_t i = 0; i < job.cases.size(); ++i) {
    INFO(Show(job.cases[i]));
    CHECK(job.results[i] == reference.Run(job.cases[i]));
  }
  CHECK(job.results[0] == "false#1 string:\"pattern too complex\"");
}
