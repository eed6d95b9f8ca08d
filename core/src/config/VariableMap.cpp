#include "gw/config/VariableMap.h"

namespace gw::config {

void VariableMap::Add(const std::string& path, VariableUse use) {
  uses_[path].push_back(std::move(use));
}

const std::vector<VariableUse>& VariableMap::At(const std::string& path) const {
  static const std::vector<VariableUse> kNone;
  const auto it = uses_.find(path);
  return it == uses_.end() ? kNone : it->second;
}

void VariableMap::Merge(const VariableMap& other) {
  for (const auto& [path, list] : other.uses_) {
    auto& target = uses_[path];
    target.insert(target.end(), list.begin(), list.end());
  }
}

}  // namespace gw::config
