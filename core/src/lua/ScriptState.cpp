#include "lua/ScriptState.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "lua/EngineServices.h"
#include "lua/JsonBridge.h"
#include "lua/Library.h"
#include "lua/LuaState.h"
#include "lua/ProtectedCall.h"
#include "lua/Sandbox.h"
#include "lua/StackGuard.h"

namespace gw::lua {
namespace {

using Clock = std::chrono::steady_clock;

class ContractError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string TypeName(lua_State* L, int index) { return lua_typename(L, lua_type(L, index)); }

// Raw field `key` of the table at absolute `table`; stack: ... -> ..., value
int PushRaw(lua_State* L, int table, const char* key) {
  lua_pushstring(L, key);
  return lua_rawget(L, table);
}

std::optional<std::string> RawString(lua_State* L, int table, const char* key) {
  std::optional<std::string> out;
  if (PushRaw(L, table, key) == LUA_TSTRING) {  // stack: ..., value
    size_t length = 0;
    const char* text = lua_tolstring(L, -1, &length);
    out = std::string(text, length);
  }
  lua_pop(L, 1);                                // stack: ...
  return out;
}

// Text of a Lua error value (protected mode): strings as they are, tables by their `message`.
std::string ErrorText(lua_State* L, int index) {
  index = lua_absindex(L, index);
  if (lua_type(L, index) == LUA_TTABLE) {
    if (auto message = RawString(L, index, "message")) return *message;
  }
  return DescribeErrorValue(L, index);
}

// Makes sure a load error names the file (Lua's mode check does not, for instance).
std::string WithFile(const std::string& file, std::string message) {
  if (message.compare(0, file.size(), file) == 0 || message.compare(0, 3, "...") == 0) return message;
  return file + ": " + message;
}

[[noreturn]] void ContractFail(const ScriptSource& source, const std::string& what) {
  throw ContractError(source.file + ": contract: " + what);
}

// The contract table at absolute index `t` -> meta. Throws ContractError naming file and field.
void ValidateContract(lua_State* L, int t, const ScriptSource& source, ScriptMeta& meta) {
  auto fail = [&](const std::string& what) { ContractFail(source, what); };
  auto got = [&](const char* key) {
    PushRaw(L, t, key);
    std::string type = TypeName(L, -1);
    lua_pop(L, 1);
    return " (got " + type + ")";
  };
  if (lua_type(L, t) != LUA_TTABLE) {
    fail("the script must return its contract table, got " + TypeName(L, t));
  }
  const auto name = RawString(L, t, "name");
  if (!name || !IsValidName(*name)) fail("field 'name' must be a string of 1-64 characters a-z 0-9 _" + got("name"));
  const auto version = RawString(L, t, "version");
  if (!version || version->empty()) fail("field 'version' must be a non-empty string" + got("version"));
  const auto kind = RawString(L, t, "kind");
  if (!kind || (*kind != "provider" && *kind != "policy" && *kind != "audit" && *kind != kLibraryKind)) {
    fail("field 'kind' must be \"provider\", \"policy\", \"audit\" or \"library\"" + got("kind"));
  }
  // Where a script lies says what it is, so a library cannot be mistaken for a provider (or the
  // reverse) by a file dropped in the wrong folder.
  if (source.library && *kind != kLibraryKind) {
    fail("a script in a lib/ folder must have kind \"library\" (got \"" + *kind + "\")");
  }
  if (!source.library && *kind == kLibraryKind) {
    fail("kind \"library\" is only allowed in a lib/ folder directly under a script folder");
  }
  const int schemaType = PushRaw(L, t, "schema");  // stack: ..., schema
  if (schemaType != LUA_TNIL && schemaType != LUA_TTABLE) {
    lua_pop(L, 1);
    fail("field 'schema' must be a table" + got("schema"));
  }
  meta.info.schema.reset();
  if (schemaType == LUA_TTABLE) {
    // Kept as data: the gateway checks configurations against it (config/ContractSchema.h).
    auto schema = std::make_shared<rapidjson::Document>();
    try {
      ToJsonDocument(L, lua_gettop(L), *schema);
    } catch (const std::exception& e) {
      lua_pop(L, 1);
      fail(std::string("field 'schema' must be plain data (tables, strings, numbers, booleans): ") + e.what());
    }
    meta.info.schema = std::move(schema);
  }
  lua_pop(L, 1);  // stack: ...
  const int selfTestType = PushRaw(L, t, "self_test");
  lua_pop(L, 1);
  if (selfTestType != LUA_TNIL && selfTestType != LUA_TFUNCTION) {
    fail("field 'self_test' must be a function" + got("self_test"));
  }

  meta.functions.clear();
  lua_pushnil(L);                       // stack: ..., nil
  while (lua_next(L, t) != 0) {         // stack: ..., key, value
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TFUNCTION) {
      size_t length = 0;
      const char* key = lua_tolstring(L, -2, &length);
      if (std::string_view(key, length) != "self_test") meta.functions.emplace_back(key, length);
    }
    lua_pop(L, 1);                      // stack: ..., key
  }
  std::sort(meta.functions.begin(), meta.functions.end());
  auto has = [&](const char* fn) {
    return std::find(meta.functions.begin(), meta.functions.end(), fn) != meta.functions.end();
  };
  if (*kind == "provider" && !has("acquire") && !has("sign")) {
    fail("a provider needs a function field 'acquire' or 'sign'" + got("acquire"));
  }
  if (*kind == "policy" && !has("decide")) fail("field 'decide' must be a function (kind policy)" + got("decide"));
  if (*kind == "audit" && !has("record")) fail("field 'record' must be a function (kind audit)" + got("record"));

  meta.info.file = source.file;
  meta.info.name = *name;
  meta.info.version = *version;
  meta.info.kind = *kind;
  meta.hasSelfTest = selfTestType == LUA_TFUNCTION;
}

bool SameContract(const ScriptMeta& a, const ScriptMeta& b) {
  return a.info.name == b.info.name && a.info.version == b.info.version && a.info.kind == b.info.kind &&
         a.functions == b.functions && a.hasSelfTest == b.hasSelfTest;
}

enum class Outcome { None, Success, Raised, ReturnedError, Invalid, BadArgument };

}  // namespace

ScriptState::ScriptState(std::unique_ptr<LuaState> state, EngineServices& services)
    : state_(std::move(state)), services_(services) {}

ScriptState::~ScriptState() = default;

bool ScriptState::Broken() const { return state_->Broken() || state_->MemoryExhausted(); }

int ScriptState::StackTop() const { return lua_gettop(state_->Get()); }

size_t ScriptState::MemoryUsed() const { return state_->MemoryUsed(); }

Result<std::unique_ptr<ScriptState>> ScriptState::Load(const std::vector<ScriptSource>& sources,
                                                       std::vector<ScriptMeta>& scripts, Mode mode,
                                                       EngineServices& services) {
  // Lua's parser recurses (nested expressions, blocks) up to its 200-level limit without a call the
  // hook could see, and loading may run on an HTTP thread of Orthanc (POST /dicomweb-oauth/reload,
  // a pool growing under a request) with 100 KiB of stack: compile where the stack is known to be
  // large enough. Loading is rare, starting a thread costs far less than compiling.
  std::optional<Result<std::unique_ptr<ScriptState>>> loaded;
  std::string error;
  const bool ran = RunWithStack(kCompileStackBytes, [&] { loaded.emplace(LoadHere(sources, scripts, mode, services)); },
                                error);
  if (!ran) {
    return MakeError("LUA-005", "cannot start a thread with " + std::to_string(kCompileStackBytes / 1024) +
                                    " KiB of stack to compile the scripts: " + error);
  }
  return std::move(*loaded);
}

Result<std::unique_ptr<ScriptState>> ScriptState::LoadHere(const std::vector<ScriptSource>& sources,
                                                           std::vector<ScriptMeta>& scripts, Mode mode,
                                                           EngineServices& services) {
  const size_t limit = services.Options().memoryLimitBytes;
  std::unique_ptr<LuaState> lua;
  try {
    lua = std::make_unique<LuaState>(limit);
  } catch (const std::exception& e) {
    return MakeError("LUA-005", std::string(e.what()) + " (" + std::to_string(limit) + " bytes)");
  }
  {
    CallContext context;
    context.deadline = Clock::now() + services.Options().defaultBudget;
    context.scriptName = "sandbox";
    context.services = &services;
    LuaState::CallScope scope(*lua, context);
    auto job = [](lua_State* L) {
      InstallSandbox(L);
      // Generational collection suits calls that allocate a few short-lived tables: in
      // bench_lua_call it cut the p99 of a trivial call from ~6.8 us to ~1.8 us (median unchanged).
      lua_gc(L, LUA_GCGEN, 0, 0);
    };
    const ProtectedResult result = RunProtected(lua->Get(), job);
    if (!result.Ok() || context.killed != KillReason::None || lua->MemoryExhausted()) {
      return MakeError("LUA-005", "cannot build the script sandbox within the memory limit (" +
                                      std::to_string(limit) + " bytes): " + result.message);
    }
  }

  std::unique_ptr<ScriptState> state(new ScriptState(std::move(lua), services));
  if (mode == Mode::Check) {
    scripts.clear();
  } else if (scripts.size() != sources.size()) {
    return MakeError("LUA-003", "internal: snapshot metadata does not match its sources");
  }
  std::map<std::string, std::string, std::less<>> fileOfName;
  for (size_t i = 0; i < sources.size(); ++i) {
    const ScriptSource& source = sources[i];
    ScriptMeta meta;
    std::vector<int> refs;
    Status loaded = state->LoadScript(source, meta, mode == Mode::Check, refs);
    if (!loaded) return loaded.GetError();
    if (mode == Mode::Check) {
      auto [it, inserted] = fileOfName.emplace(meta.info.name, source.file);
      if (!inserted) {
        return MakeError("LUA-010", "duplicate script name '" + meta.info.name + "' in " + it->second +
                                        " and " + source.file);
      }
      scripts.push_back(std::move(meta));
    } else if (!SameContract(meta, scripts[i])) {
      return MakeError("LUA-003", source.file +
                                      ": contract: differs from the one checked at reload (a script's top "
                                      "level must return the same contract every time)");
    }
    state->refs_.push_back(std::move(refs));
  }
  return state;
}

Status ScriptState::LoadScript(const ScriptSource& source, ScriptMeta& meta, bool runSelfTest,
                               std::vector<int>& refs) {
  CallContext context;
  context.deadline = Clock::now() + services_.Options().defaultBudget;
  context.scriptName = source.relative;
  context.services = &services_;
  LuaState::CallScope scope(*state_, context);

  const std::string chunkName = "@" + source.file;
  std::optional<Error> failure;
  auto fail = [&](const char* code, std::string message) { failure = MakeError(code, std::move(message)); };
  auto job = [&](lua_State* L) {
    // Text only: a precompiled (binary) chunk is refused with LUA_ERRSYNTAX.
    int status = luaL_loadbufferx(L, source.text.data(), source.text.size(), chunkName.c_str(), "t");
    if (status == LUA_ERRRUN) {                          // stack: err
      // The parser's own nesting limit (200 C levels) raises a run-time error, not a syntax error.
      fail("LUA-001", WithFile(source.file, ErrorText(L, -1) +
                                                " (nesting too deep to compile: Lua allows about 200 levels of "
                                                "nested expressions, blocks and functions)"));
      return;
    }
    if (status != LUA_OK) {                              // stack: err
      fail(status == LUA_ERRSYNTAX ? "LUA-001" : "LUA-002", WithFile(source.file, ErrorText(L, -1)));
      return;
    }                                                    // stack: chunk
    PushScriptEnv(L);                                    // stack: chunk, env
    lua_setupvalue(L, 1, 1);                             // stack: chunk (upvalue 1 of a main chunk is _ENV)
    status = lua_pcall(L, 0, 1, 0);                      // stack: contract | err
    if (status != LUA_OK) {
      fail("LUA-002", WithFile(source.file, ErrorText(L, -1)));
      return;
    }
    try {
      ValidateContract(L, 1, source, meta);
    } catch (const ContractError& e) {
      fail("LUA-003", e.what());
      return;
    }
    if (meta.info.kind == kLibraryKind) {
      RegisterLibrary(L, 1, meta.info.name);             // scripts call its functions, the gateway never
    } else {
      refs.reserve(meta.functions.size());
      for (const std::string& name : meta.functions) {
        lua_pushlstring(L, name.data(), name.size());   // stack: contract, name
        lua_rawget(L, 1);                                // stack: contract, fn
        refs.push_back(luaL_ref(L, LUA_REGISTRYINDEX));  // stack: contract
      }
    }
    if (!runSelfTest || !meta.hasSelfTest) return;
    PushRaw(L, 1, "self_test");                          // stack: contract, self_test
    status = lua_pcall(L, 0, 2, 0);                      // stack: contract, r1, r2 | contract, err
    if (status != LUA_OK) {
      fail("LUA-011", source.file + ": self_test failed: " + ErrorText(L, -1));
      return;
    }
    if (lua_type(L, 2) == LUA_TBOOLEAN && lua_toboolean(L, 2)) return;  // passed
    if (lua_isnil(L, 2) && !lua_isnil(L, 3)) {
      fail("LUA-011", source.file + ": self_test failed: " + ErrorText(L, 3));
    } else {
      fail("LUA-011", source.file + ": self_test must return true, got " + TypeName(L, 2));
    }
  };
  const ProtectedResult result = RunProtected(state_->Get(), job);
  if (context.killed == KillReason::Deadline) {
    return MakeError("LUA-004", source.file + ": loading exceeded the time budget of " +
                                    std::to_string(services_.Options().defaultBudget.count()) + " ms");
  }
  if (context.killed == KillReason::Memory || state_->MemoryExhausted()) {
    state_->MarkBroken();
    return MakeError("LUA-005", source.file + ": loading exceeded the memory limit of " +
                                    std::to_string(state_->MemoryLimit()) + " bytes");
  }
  if (context.killed == KillReason::Stack) {
    return MakeError("LUA-002", source.file + ": loading stopped: calls nested too deeply for the C stack");
  }
  if (!result.Ok()) return MakeError("LUA-002", WithFile(source.file, result.message));
  if (failure) return *failure;
  return Status::Success();
}

Status ScriptState::Invoke(size_t script, size_t function, const ScriptMeta& meta, const Argument& arg,
                           Clock::time_point deadline, rapidjson::Document& document) {
  const size_t stackLeft = StackRemaining();
  if (stackLeft < kMinCallStackBytes) {
    // Refused before Lua runs: the state stays usable.
    return MakeError("LUA-006", meta.info.name + "." + meta.functions[function] +
                                    ": refused: the calling thread has " + std::to_string(stackLeft / 1024) +
                                    " KiB of stack left, a script call needs at least " +
                                    std::to_string(kMinCallStackBytes / 1024) + " KiB");
  }
  CallContext context;
  context.deadline = deadline;
  context.scriptName = meta.info.name;
  context.services = &services_;

  Outcome outcome = Outcome::None;
  std::string message;
  std::string code;
  int httpStatus = 500;
  const int ref = refs_[script][function];
  auto job = [&](lua_State* L) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);     // stack: fn
    try {
      arg.Push(L);                              // stack: fn, arg
    } catch (const ConversionError& e) {
      outcome = Outcome::BadArgument;
      message = e.what();
      return;
    }
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) {      // stack: r1, r2 | err
      outcome = Outcome::Raised;
      message = ErrorText(L, -1);
      return;
    }
    if (!lua_isnil(L, 1)) {
      try {
        ToJsonDocument(L, 1, document);
        outcome = Outcome::Success;
      } catch (const ConversionError& e) {
        outcome = Outcome::Invalid;
        message = e.what();
      }
      return;
    }
    // `return nil, "reason"` or `return nil, {code=, message=, status=}`; a bare nil is not success.
    switch (lua_type(L, 2)) {
      case LUA_TNIL:
        outcome = Outcome::Invalid;
        message = "returned nil without an error (return a value, or nil plus an error)";
        return;
      case LUA_TTABLE: {
        outcome = Outcome::ReturnedError;
        if (auto text = RawString(L, 2, "message")) message = *text;
        else message = "the script returned an error without a message";
        if (auto given = RawString(L, 2, "code")) {
          if (IsErrorCode(*given)) code = *given;
          else message += " (invalid error code ignored)";
        }
        PushRaw(L, 2, "status");                // stack: r1, r2, status
        if (lua_isinteger(L, -1)) {
          const lua_Integer status = lua_tointeger(L, -1);
          if (status >= 400 && status <= 599) httpStatus = static_cast<int>(status);
        }
        return;
      }
      default:
        outcome = Outcome::ReturnedError;
        message = ErrorText(L, 2);
        return;
    }
  };

  ProtectedResult result;
  {
    LuaState::CallScope scope(*state_, context);
    result = RunProtected(state_->Get(), job);
  }
  // Named only when there is an error to report: "read_only.decide" is past the short-string
  // buffer, so building it on every call was a malloc and a free per policy call.
  const auto where = [&] { return meta.info.name + "." + meta.functions[function]; };
  if (context.killed == KillReason::Deadline) {
    return MakeError("LUA-004", where() + ": exceeded the call's time budget", 504);
  }
  if (context.killed == KillReason::Memory || state_->MemoryExhausted()) {
    state_->MarkBroken();
    return MakeError("LUA-005", where() + ": exceeded the memory limit of " + std::to_string(state_->MemoryLimit()) +
                                    " bytes");
  }
  if (context.killed == KillReason::Stack) {
    return MakeError("LUA-006", where() + ": stopped: calls nested too deeply for this thread's C stack "
                                        "(recursion through pcall, metamethods, __tostring or library callbacks)");
  }
  if (!result.Ok()) {
    state_->MarkBroken();  // our own glue failed: do not trust this state any more
    return MakeError("LUA-006", where() + ": " + result.message);
  }
  if (StackTop() != 0) state_->MarkBroken();
  // A single C function (string.rep, table.sort, table.concat) runs to its end without the hook:
  // whatever a call returns past its deadline is discarded, never honoured (a late "allow").
  if (Clock::now() >= deadline) {
    return MakeError("LUA-004", where() + ": exceeded the call's time budget (its result arrived after the deadline "
                                        "and was discarded)", 504);
  }
  switch (outcome) {
    case Outcome::Success: return Status::Success();
    case Outcome::Raised: return MakeError("LUA-006", where() + ": " + message);
    case Outcome::Invalid: return MakeError("LUA-008", where() + ": invalid return value: " + message);
    case Outcome::BadArgument: return MakeError("LUA-006", where() + ": the argument cannot be converted: " + message);
    case Outcome::ReturnedError: {
      // The script's own words travel as a field: callers (PolicyEngine) never cut the message.
      auto origin = std::make_shared<ErrorOrigin>();
      origin->script = meta.info.name;
      origin->function = meta.functions[function];
      origin->reason = message;
      Error e = code.empty() ? MakeError("LUA-009", where() + " returned an error: " + message, httpStatus)
                             : MakeError(code, message, httpStatus);
      e.origin = std::move(origin);
      return e;
    }
    case Outcome::None: break;
  }
  state_->MarkBroken();
  return MakeError("LUA-006", where() + ": the call did not complete");
}

}  // namespace gw::lua
