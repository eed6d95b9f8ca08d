#pragma once
// Which `${VAR}` references appeared at which JSON path of the raw (unsubstituted) configuration.
// Orthanc substitutes variables before any plugin sees the configuration, so a secret that comes
// from an unset variable reaches the gateway as "". With this map the parser can say which variable
// was missing (CFG-003) instead of only "ClientSecret is empty".
// Built by VariableSubstitution::Scan; immutable afterwards and safe to share between threads.
#include <map>
#include <string>
#include <vector>

namespace gw::config {

struct VariableUse {
  std::string name;          // variable name, as written between ${ and } (or before :-)
  bool set = false;          // present in the environment (possibly with an empty value)
  bool hasDefault = false;   // ${NAME:-default}
  bool resultEmpty = false;  // what it was replaced with is ""
};

class VariableMap {
 public:
  void Add(const std::string& path, VariableUse use);
  // Variables referenced inside the value at `path` (empty if none or unknown).
  const std::vector<VariableUse>& At(const std::string& path) const;
  bool Empty() const { return uses_.empty(); }
  // Adds every entry of `other` (used to merge the files of a configuration folder).
  void Merge(const VariableMap& other);

 private:
  std::map<std::string, std::vector<VariableUse>> uses_;
};

// [A-Za-z_][A-Za-z0-9_]*: what an environment variable reference may name.
bool IsEnvironmentName(const std::string& name);

// The CFG-003 message for `key`, present but empty: names the ${VAR} that produced it when `uses`
// (VariableMap::At of its path) knows it. Shared by the parser and the provider contracts.
std::string EmptyValueMessage(const std::string& key, const std::vector<VariableUse>& uses);

}  // namespace gw::config
