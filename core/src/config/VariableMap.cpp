#include "gw/config/VariableMap.h"

#include <algorithm>
#include <cctype>

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

bool IsEnvironmentName(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::string EmptyValueMessage(const std::string& key, const std::vector<VariableUse>& uses) {
  auto join = [](const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
  };
  std::vector<std::string> unset, setEmpty, emptyDefault;
  for (const VariableUse& use : uses) {
    // Only ordinary names are quoted: a malformed reference can span other text of the file.
    const std::string ref = IsEnvironmentName(use.name) ? "${" + use.name + "}" : "a ${...} reference";
    if (!use.set && !use.hasDefault) unset.push_back(ref);
    else if (use.set && use.resultEmpty) setEmpty.push_back(ref);
    else if (!use.set && use.resultEmpty) emptyDefault.push_back(ref);
  }
  std::string message = "`" + key + "` is empty";
  if (!unset.empty()) {
    message += ": " + join(unset) + (unset.size() > 1 ? " are" : " is") +
               " not set in Orthanc's environment, and Orthanc replaces an unset ${VAR} with an "
               "empty string; set the variable or the value";
  } else if (!setEmpty.empty()) {
    message += ": " + join(setEmpty) + (setEmpty.size() > 1 ? " are" : " is") + " set to an empty value";
  } else if (!emptyDefault.empty()) {
    message += ": " + join(emptyDefault) + " is not set and its default value is empty";
  } else {
    message += ". If it comes from a ${VAR} reference, that variable is not set: Orthanc replaces an "
               "unset variable with an empty string";
  }
  return message;
}

}  // namespace gw::config
