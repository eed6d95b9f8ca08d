#include "gw/common/TraceContext.h"

#include <chrono>
#include <random>
#include <thread>

namespace gw {

namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

bool AllLowerHex(std::string_view s) {
  for (char c : s) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

bool AllZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One generator per thread, seeded from the OS, the clock and the thread: ids only need to be
// unique and unpredictable enough not to collide across a fleet, not to be secret.
std::mt19937_64& Generator() {
  thread_local std::mt19937_64 generator = [] {
    std::random_device device;
    std::seed_seq seed{static_cast<uint64_t>(device()), static_cast<uint64_t>(device()),
                       static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count()),
                       static_cast<uint64_t>(std::hash<std::thread::id>()(std::this_thread::get_id()))};
    return std::mt19937_64(seed);
  }();
  return generator;
}

}  // namespace

std::string RandomHexId(size_t bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  do {
    out.clear();
    uint64_t word = 0;
    for (size_t i = 0; i < bytes; ++i) {
      if (i % 8 == 0) word = Generator()();
      const auto b = static_cast<uint8_t>(word >> (8 * (i % 8)));
      out += kDigits[b >> 4];
      out += kDigits[b & 0x0f];
    }
  } while (AllZero(out));
  return out;
}

std::string TraceContext::Header() const {
  static const char* kDigits = "0123456789abcdef";
  std::string out = "00-" + traceId + "-" + parentId + "-";
  out += kDigits[flags >> 4];
  out += kDigits[flags & 0x0f];
  return out;
}

std::optional<TraceContext> TraceContext::Parse(std::string_view header) {
  const std::string_view h = Trim(header);
  // version(2) '-' trace-id(32) '-' parent-id(16) '-' flags(2) = 55 characters.
  constexpr size_t kLength = 55;
  if (h.size() < kLength) return std::nullopt;
  const std::string_view version = h.substr(0, 2);
  if (!AllLowerHex(version) || version == "ff") return std::nullopt;
  if (h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  const std::string_view traceId = h.substr(3, 32);
  const std::string_view parentId = h.substr(36, 16);
  const std::string_view flags = h.substr(53, 2);
  if (!AllLowerHex(traceId) || !AllLowerHex(parentId) || !AllLowerHex(flags)) return std::nullopt;
  if (AllZero(traceId) || AllZero(parentId)) return std::nullopt;
  if (h.size() > kLength) {
    // Version 00 has exactly four fields; a later version may append fields after a '-'.
    if (version == "00" || h[kLength] != '-') return std::nullopt;
  }
  TraceContext ctx;
  ctx.traceId = std::string(traceId);
  ctx.parentId = std::string(parentId);
  ctx.flags = static_cast<uint8_t>(HexValue(flags[0]) * 16 + HexValue(flags[1]));
  // Only the sampled bit is defined in level 1: the gateway passes on what it understands, so a
  // later version's flags never reach the upstream as a version 00 header with unknown bits.
  if (version != "00") ctx.flags &= 0x01;
  return ctx;
}

TraceContext TraceContext::Start() {
  TraceContext ctx;
  ctx.traceId = RandomHexId(16);
  ctx.parentId = RandomHexId(8);
  ctx.flags = 0x01;
  return ctx;
}

TraceContext TraceContext::Continue(const std::optional<TraceContext>& incoming) {
  if (!incoming) return Start();
  TraceContext ctx = *incoming;
  ctx.parentId = RandomHexId(8);
  return ctx;
}

}  // namespace gw
