#pragma once
// JSON numbers read from their text (gw/common/Json.cpp): used by gw::json::Parse and the Lua bridge.
#include <cstddef>
#include <cstdint>
#include <optional>

#include <rapidjson/document.h>

namespace gw::json {

// One JSON number, read from its text. The parsers take numbers as text from rapidjson
// (kParseNumbersAsStringsFlag) and convert them here: rapidjson 1.1.0's default conversion misreads
// ~15% of doubles by one unit in the last place (so a canonical form read back was not a fixed
// point, and `audit verify` refused such records), and its full-precision one has undefined
// behaviour on a zero significand ("0e308"); both found by fuzz/fuzz_json. strtod is correctly
// rounded (read in the C locale, whatever the process's locale). Integers become int64/uint64 when
// they fit, as rapidjson does, doubles otherwise. False for a value out of the double range.
struct JsonNumber {
  enum class Kind { Int64, Uint64, Double } kind = Kind::Double;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
};
bool ReadJsonNumber(const char* text, size_t length, JsonNumber& out);

// A value that is a whole number: an integer that fits int64, or a double without a fraction (7.0)
// within +-2^53, where every integer is exact as a double. nullopt for anything else (fractions,
// larger doubles, uint64 above int64, non-numbers).
std::optional<int64_t> WholeNumber(const rapidjson::Value& v);

}  // namespace gw::json
