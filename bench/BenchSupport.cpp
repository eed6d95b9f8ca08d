#include "BenchSupport.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace gw::bench {

std::filesystem::path SourceDir() {
  const char* fromEnvironment = std::getenv("GW_SOURCE_DIR");
  return fromEnvironment != nullptr ? fromEnvironment : GW_SOURCE_DIR;
}

std::optional<TempFolder> TempFolder::Create(const std::string& tag) {
  std::string path = (std::filesystem::temp_directory_path() / ("gw-bench-" + tag + "-XXXXXX")).string();
  if (::mkdtemp(path.data()) == nullptr) {
    std::fprintf(stderr, "cannot create a temporary folder %s\n", path.c_str());
    return std::nullopt;
  }
  return TempFolder(std::move(path));
}

void TempFolder::Remove() {
  if (path_.empty()) return;
  std::error_code ignored;  // a bench must not fail on clean-up
  std::filesystem::remove_all(path_, ignored);
  path_.clear();
}

bool CopyScripts(const std::filesystem::path& from, const std::vector<std::string>& names, const std::string& to) {
  for (const std::string& name : names) {
    std::error_code ec;
    std::filesystem::copy_file(from / (name + ".lua"), std::filesystem::path(to) / (name + ".lua"), ec);
    if (ec) {
      std::fprintf(stderr, "cannot copy %s.lua from %s: set GW_SOURCE_DIR to the repository root\n",
                   name.c_str(), from.c_str());
      return false;
    }
  }
  return true;
}

std::unique_ptr<lua::ScriptEngine> LoadScripts(const std::string& folder, std::vector<std::string> servers) {
  lua::EngineOptions options;
  options.scriptDirs = {folder};
  options.servers = std::move(servers);
  auto engine = std::make_unique<lua::ScriptEngine>(options);
  const auto loaded = engine->Reload();
  if (!loaded) {
    std::fprintf(stderr, "reload failed: %s\n", loaded.GetError().ToString().c_str());
    return nullptr;
  }
  return engine;
}

Percentiles Summarize(std::vector<long long> samples) {
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    return samples[static_cast<size_t>(q * static_cast<double>(samples.size() - 1))];
  };
  return {at(0.5), at(0.99), at(0.999)};
}

Percentiles Summarize(const std::vector<std::vector<long long>>& perThread) {
  std::vector<long long> all;
  for (const auto& samples : perThread) all.insert(all.end(), samples.begin(), samples.end());
  return Summarize(std::move(all));
}

}  // namespace gw::bench
