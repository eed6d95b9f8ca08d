#include "gw/config/JsonPath.h"

namespace gw::config {
namespace {

std::string SanitizeKey(const std::string& key) {
  std::string out = key;
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

}  // namespace

std::string JoinPath(const std::string& parent, const std::string& key) {
  return parent.empty() ? SanitizeKey(key) : parent + "." + SanitizeKey(key);
}

std::string JoinIndex(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

}  // namespace gw::config
