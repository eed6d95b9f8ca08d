#pragma once
// Small conveniences over RapidJSON used across the gateway: a writer that owns its buffer and
// takes std::string, and a parser that returns an Error with the offset instead of a flag.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "gw/common/Error.h"

namespace gw::json {

class Writer {
 public:
  Writer() : writer_(buffer_) {}
  void StartObject() { writer_.StartObject(); }
  void EndObject() { writer_.EndObject(); }
  void StartArray() { writer_.StartArray(); }
  void EndArray() { writer_.EndArray(); }
  void Key(std::string_view k) { writer_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
  void String(std::string_view s) {
    writer_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  }
  void Bool(bool b) { writer_.Bool(b); }
  void Int(int64_t i) { writer_.Int64(i); }
  void Uint(uint64_t u) { writer_.Uint64(u); }
  void Double(double d) { writer_.Double(d); }
  void Null() { writer_.Null(); }
  void Value(const rapidjson::Value& v) { v.Accept(writer_); }
  // Returns the document written so far and resets nothing: call once, at the end.
  std::string Take() { return std::string(buffer_.GetString(), buffer_.GetSize()); }

 private:
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

// Serialises any RapidJSON value.
std::string Stringify(const rapidjson::Value& value);

// Compact serialisation with object members sorted by name (bytewise, recursively; members with the
// same name keep their order), so equal content gives equal bytes: token cache keys and the audit
// chain's hashes depend on it.
std::string Canonical(const rapidjson::Value& value);

// Bounds every parse of a document the gateway did not write itself (request bodies, IdP answers, JWT
// parts, JWKS, Redis values, audit lines, configuration files). The parse itself never recurses
// (rapidjson's iterative mode), and the depth bound keeps every later walk over the document
// (serialisation, copies, the Lua bridge) shallow: plugin callbacks run on Orthanc's HTTP threads,
// whose stack is small, and a 1000-deep body once overflowed it.
struct ParseLimits {
  static constexpr unsigned kDefaultMaxDepth = 64;            // OAuth answers and configs use < 10
  static constexpr size_t kDefaultMaxBytes = 16u << 20;      // 16 MiB
  unsigned maxDepth = kDefaultMaxDepth;  // arrays and objects nested deeper are refused
  size_t maxBytes = kDefaultMaxBytes;    // longer texts are refused before parsing
};

struct ParseOptions {
  bool allowComments = false;    // Orthanc's configuration dialect: comments and trailing commas
  bool stopWhenDone = false;     // ignore what follows the first complete value
  bool validateEncoding = true;  // refuse invalid UTF-8
  ParseLimits limits;
};

// True when `s` holds the UTF-8 form of a surrogate code point (U+D800..U+DFFF, bytes ED A0..BF xx):
// not a character. rapidjson 1.1.0 validates raw bytes but turns a lone low-surrogate escape such as
// "\udc00" into exactly these bytes, which its own validation then refuses when the text is written
// out and read again. The parsers refuse such strings (found by fuzz/fuzz_lua_json).
bool HasSurrogateBytes(const char* s, size_t n);

// Parses `text` within `options.limits`; errors carry `code`, the byte offset and what was wrong
// (status 400: the text came from outside). `failure`, when given, receives the byte offset and the
// reason alone, for callers that word their own message (a configuration file's line and column).
struct ParseFailure {
  size_t offset = 0;
  std::string reason;
};
Result<rapidjson::Document> Parse(std::string_view text, const char* code, const ParseOptions& options,
                                  ParseFailure* failure = nullptr);
// Same, with the default limits; comments allowed when `allowComments`.
Result<rapidjson::Document> Parse(std::string_view text, const char* code, bool allowComments = false);

}  // namespace gw::json
