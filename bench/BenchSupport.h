#pragma once
// What the benchmarks share: a private temp folder, the source tree's scripts copied into it, one
// ScriptEngine loaded from it, and latency percentiles. Only the set-up and the summary: each
// bench keeps its own timed loop and its own output line (docs/PERFORMANCE.md quotes them).
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gw/lua/ScriptEngine.h"

namespace gw::bench {

// The repository root: $GW_SOURCE_DIR when set, else the tree this bench was built from.
std::filesystem::path SourceDir();

// A fresh folder "<system temp>/gw-bench-<tag>-XXXXXX" (mkdtemp, mode 0700), removed with its
// contents by Remove() or at destruction.
class TempFolder {
 public:
  // nullopt (and a message on stderr) when the folder cannot be made.
  static std::optional<TempFolder> Create(const std::string& tag);
  ~TempFolder() { Remove(); }
  TempFolder(TempFolder&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempFolder& operator=(TempFolder&&) = delete;
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;

  const std::string& Path() const { return path_; }
  void Remove();

 private:
  explicit TempFolder(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Copies "<from>/<name>.lua" into `to` for every name; false (and a message on stderr) when one
// cannot be copied.
bool CopyScripts(const std::filesystem::path& from, const std::vector<std::string>& names, const std::string& to);

// A ScriptEngine over `folder`, reloaded once; nullptr (and "reload failed: <error>" on stderr)
// when the scripts do not load. The scripts are compiled by then: the folder may go.
// `servers`: the configured servers whose calls get their own share of the Lua states.
std::unique_ptr<lua::ScriptEngine> LoadScripts(const std::string& folder, std::vector<std::string> servers = {});

// Latency figures in nanoseconds. Percentile q of n sorted samples is sample[q * (n - 1)]
// (rounded down), as the benches have always reported it.
struct Percentiles {
  long long median = 0;
  long long p99 = 0;
  long long p999 = 0;
};
// Sorts `samples` (nanoseconds, at least one) and reads the three figures.
Percentiles Summarize(std::vector<long long> samples);
// Same over the samples of several threads taken together.
Percentiles Summarize(const std::vector<std::vector<long long>>& perThread);

}  // namespace gw::bench
