// Functions placed directly on `gw`: gw.log(level, message).
#include <string>

#include "gw/common/Log.h"
#include "lua/BindingRegistry.h"

namespace gw::lua {
namespace {

constexpr size_t kMaxLogMessage = 8192;  // longer messages are cut, so a script cannot flood the log

// gw.log(level, message): level is "error" | "warning" | "info" | "debug"; message a string or a
// number. The line is "[lua:<script>] message" and goes through gw::Log (secrets are masked there).
// Messages longer than 8192 bytes are cut; CR and LF are shown as \r and \n.
int Log(lua_State* L) {
  const std::string_view levelText = ArgString(L, 1, "gw.log", "level");
  LogLevel level;
  if (!ParseLogLevel(levelText, level)) {
    throw BindingError("gw.log: level must be one of error, warning, info, debug");
  }
  if (lua_type(L, 2) != LUA_TSTRING && lua_type(L, 2) != LUA_TNUMBER) {
    throw BindingError(std::string("gw.log: message must be a string, got ") + luaL_typename(L, 2));
  }
  size_t length = 0;
  const char* text = lua_tolstring(L, 2, &length);  // converts a number in place (protected: ok)
  const CallContext& context = RequireContext(L, "gw.log");
  std::string line = "[lua:";
  line.append(context.scriptName.data(), context.scriptName.size());
  line += "] ";
  // Line breaks are escaped so that a script cannot forge separate log lines.
  const size_t shown = length > kMaxLogMessage ? kMaxLogMessage : length;
  for (size_t i = 0; i < shown; ++i) {
    if (text[i] == '\n') line += "\\n";
    else if (text[i] == '\r') line += "\\r";
    else line += text[i];
  }
  if (length > kMaxLogMessage) line += "... (truncated)";
  gw::Log(level, line);
  return 0;
}

}  // namespace

const BindingNamespace& RootNamespace() {
  static const BindingNamespace ns{"", {{"log", &Protect<Log>}}};
  return ns;
}

}  // namespace gw::lua
