#include "gw/common/SecretRegistry.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace gw {
namespace {
constexpr size_t kMinSecretLength = 6;
std::shared_mutex g_mutex;
std::vector<std::string> g_secrets;  // longest first, so a secret containing another is masked whole
}  // namespace

void SecretRegistry::Add(std::string_view secret) {
  if (secret.size() < kMinSecretLength) return;
  std::unique_lock lock(g_mutex);
  if (std::find(g_secrets.begin(), g_secrets.end(), secret) != g_secrets.end()) return;
  g_secrets.emplace_back(secret);
  std::sort(g_secrets.begin(), g_secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

void SecretRegistry::Remove(std::string_view secret) {
  std::unique_lock lock(g_mutex);
  g_secrets.erase(std::remove(g_secrets.begin(), g_secrets.end(), secret), g_secrets.end());
}

void SecretRegistry::Clear() {
  std::unique_lock lock(g_mutex);
  g_secrets.clear();
}

std::string SecretRegistry::Redact(std::string_view text) {
  std::string out(text);
  std::shared_lock lock(g_mutex);
  for (const auto& s : g_secrets) {
    for (size_t pos = out.find(s); pos != std::string::npos; pos = out.find(s, pos + 3)) {
      out.replace(pos, s.size(), "***");
    }
  }
  return out;
}

}  // namespace gw
