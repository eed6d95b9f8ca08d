#pragma once
// Plain data of a snapshot: the stored text of each script and what its contract declared.
#include <string>
#include <vector>

#include "gw/lua/ScriptEngine.h"

namespace gw::lua {

struct ScriptSource {
  std::string file;      // path as found (chunk name, messages)
  std::string relative;  // path relative to its script folder (digest)
  std::string text;      // the exact bytes every state of the snapshot compiles
  bool library = false;  // lies in lib/ directly under its script folder: must be kind "library"
};

struct ScriptMeta {
  ScriptInfo info;
  std::vector<std::string> functions;  // callable function fields of the contract, sorted
  bool hasSelfTest = false;
};

}  // namespace gw::lua
