#include "lua/ScriptLoader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>

#include "gw/crypto/Hash.h"

#include "lua/Library.h"

namespace gw::lua {
namespace fs = std::filesystem;
namespace {

constexpr uintmax_t kMaxScriptBytes = 1024 * 1024;

bool Hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

struct Found {
  std::string file;
  std::string relative;
  size_t folder = 0;     // index in the configured folders
  bool library = false;  // below lib/ of its folder
};

// Whether `path`, found `depth` folders below its script folder, lies below that folder's lib/.
// Decided on the path as walked, not a resolved one: a linked file (a ConfigMap volume) counts
// where it appears.
bool InLibraryFolder(const fs::path& path, int depth) {
  if (depth < 1) return false;
  std::vector<fs::path> parts(path.begin(), path.end());
  const size_t top = parts.size() - static_cast<size_t>(depth) - 1;  // first part below the folder
  return parts[top] == fs::path(kLibraryFolder);
}

// Libraries first, in the order of the configured folders and by path within a folder (so a
// library of a later folder can use the libraries of an earlier one), then every other script by
// path. A file reached through two folders is kept once: as a library if either path makes it one,
// otherwise as seen from the first folder.
bool LoadsBefore(const Found& a, const Found& b) {
  if (a.library != b.library) return a.library;
  if (a.library) return a.folder != b.folder ? a.folder < b.folder : a.relative < b.relative;
  return a.file != b.file ? a.file < b.file : a.folder < b.folder;
}

}  // namespace

Result<ScriptSet> ReadScripts(const std::vector<std::string>& folders) {
  if (folders.empty()) return MakeError("LUA-010", "no script folder is configured");
  std::vector<Found> found;
  for (size_t index = 0; index < folders.size(); ++index) {
    const std::string& folder = folders[index];
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) {
      return MakeError("LUA-010", "script folder '" + folder + "' is not a readable directory");
    }
    fs::recursive_directory_iterator it(folder, fs::directory_options::none, ec);
    if (ec) return MakeError("LUA-010", "cannot read script folder '" + folder + "': " + ec.message());
    for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
      if (ec) return MakeError("LUA-010", "cannot read script folder '" + folder + "': " + ec.message());
      const fs::path& path = it->path();
      if (Hidden(path)) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (path.extension() != ".lua" || !it->is_regular_file(ec)) continue;  // follows file links
      found.push_back(Found{path.string(), fs::relative(path, folder, ec).generic_string(), index,
                            InLibraryFolder(path, it.depth())});
    }
  }
  std::sort(found.begin(), found.end(), LoadsBefore);

  ScriptSet set;
  std::set<std::string> canonicalSeen;
  for (const Found& f : found) {
    std::error_code ec;
    const std::string canonical = fs::canonical(f.file, ec).string();
    if (ec) return MakeError("LUA-010", "cannot resolve script '" + f.file + "': " + ec.message());
    if (!canonicalSeen.insert(canonical).second) continue;  // overlapping folders
    const uintmax_t size = fs::file_size(f.file, ec);
    if (ec) return MakeError("LUA-010", "cannot read script '" + f.file + "': " + ec.message());
    if (size > kMaxScriptBytes) return MakeError("LUA-010", "script '" + f.file + "' is larger than 1 MiB");
    std::ifstream in(f.file, std::ios::binary);
    if (!in.is_open()) return MakeError("LUA-010", "cannot open script '" + f.file + "'");
    std::ostringstream text;
    if (size > 0) text << in.rdbuf();
    if (in.bad()) return MakeError("LUA-010", "cannot read script '" + f.file + "'");
    set.sources.push_back(ScriptSource{f.file, f.relative, text.str(), f.library});
  }
  if (set.sources.empty()) {
    std::string list;
    for (const std::string& folder : folders) list += (list.empty() ? "" : ", ") + folder;
    return MakeError("LUA-010", "no *.lua script found in " + list);
  }
  set.digest = DigestOf(set.sources);
  if (set.digest.empty()) return MakeError("LUA-010", "cannot compute the digest of the scripts (OpenSSL)");
  return set;
}

std::string DigestOf(const std::vector<ScriptSource>& sources) {
  try {
    crypto::Sha256Hasher hasher;
    const std::string_view nul("\0", 1);
    for (const ScriptSource& source : sources) {
      hasher.Update(source.relative).Update(nul).Update(std::to_string(source.text.size())).Update(nul);
      hasher.Update(source.text);
    }
    return hasher.FinalHex();
  } catch (const std::runtime_error&) {  // OpenSSL failed: the caller reports LUA-010
    return {};
  }
}

}  // namespace gw::lua
