#pragma once
// Test-only key material of tests/fixtures/crypto (see its README) and small helpers.
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace gw::test {

inline std::string FixturePath(const std::string& name) {
  return std::string(GW_SOURCE_DIR) + "/tests/fixtures/crypto/" + name;
}

inline std::string ReadFixture(const std::string& name) {
  std::ifstream in(FixturePath(name), std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + name);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string TrimNewline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

inline constexpr const char* kFixturePassword = "test-only-password";

}  // namespace gw::test
