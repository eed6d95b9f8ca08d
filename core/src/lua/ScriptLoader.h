#pragma once
// Finding and reading the scripts of a snapshot, and its digest.
#include <string>
#include <vector>

#include "gw/common/Error.h"
#include "lua/ScriptSource.h"

namespace gw::lua {

struct ScriptSet {
  std::vector<ScriptSource> sources;  // in load order: libraries, then the others by path
  std::string digest;                 // SHA-256 hex, see DigestOf
};

// Every *.lua file below `folders` (recursive; entries whose name starts with '.' are skipped,
// which also skips the hidden data folders of Kubernetes ConfigMap volumes and editor files),
// each file once even if folders overlap. Files below a `lib/` folder directly under a script
// folder are libraries (ScriptSource::library) and come first, in folder order then by path;
// the other files follow, sorted by path. Files larger than 1 MiB are refused.
// Errors: LUA-010 (no folder, folder unreadable, no script, file unreadable or too large).
Result<ScriptSet> ReadScripts(const std::vector<std::string>& folders);

// SHA-256 over, for each source in order: relative path, NUL, decimal size, NUL, contents.
std::string DigestOf(const std::vector<ScriptSource>& sources);

}  // namespace gw::lua
