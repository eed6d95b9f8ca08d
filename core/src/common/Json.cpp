#include "gw/common/Json.h"
#include "gw/common/JsonNumber.h"

#include <algorithm>
#include <cerrno>
#include <clocale>
#include <cmath>
#include <cstdlib>
#include <vector>

#include <locale.h>

#include <rapidjson/error/en.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace gw::json {

std::string Stringify(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

namespace {

void WriteCanonical(const rapidjson::Value& v, rapidjson::Writer<rapidjson::StringBuffer>& w) {
  if (v.IsObject()) {
    std::vector<const rapidjson::Value::Member*> members;
    members.reserve(v.MemberCount());
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) members.push_back(&*it);
    std::stable_sort(members.begin(), members.end(), [](const auto* a, const auto* b) {
      return std::string_view(a->name.GetString(), a->name.GetStringLength()) <
             std::string_view(b->name.GetString(), b->name.GetStringLength());
    });
    w.StartObject();
    for (const auto* m : members) {
      w.Key(m->name.GetString(), m->name.GetStringLength());
      WriteCanonical(m->value, w);
    }
    w.EndObject();
  } else if (v.IsArray()) {
    w.StartArray();
    for (const auto& e : v.GetArray()) WriteCanonical(e, w);
    w.EndArray();
  } else {
    v.Accept(w);
  }
}

}  // namespace

std::string Canonical(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  WriteCanonical(value, writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::optional<int64_t> WholeNumber(const rapidjson::Value& v) {
  constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
  if (v.IsInt64()) return v.GetInt64();
  if (!v.IsDouble()) return std::nullopt;
  const double x = v.GetDouble();
  if (!std::isfinite(x) || x != std::trunc(x) || std::fabs(x) > kExactIntegers) return std::nullopt;
  return static_cast<int64_t>(x);
}

bool ReadJsonNumber(const char* text, size_t length, JsonNumber& out) {
  static const locale_t c = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  const std::string s(text, length);  // NUL-terminated for the C functions
  if (s.find_first_of(".eE") == std::string::npos) {
    errno = 0;
    if (s[0] == '-') {
      const long long v = strtoll_l(s.c_str(), nullptr, 10, c);
      if (errno == 0) {
        out.kind = JsonNumber::Kind::Int64;
        out.i = v;
        return true;
      }
    } else {
      const unsigned long long v = strtoull_l(s.c_str(), nullptr, 10, c);
      if (errno == 0) {
        out.kind = JsonNumber::Kind::Uint64;
        out.u = v;
        return true;
      }
    }
  }
  out.kind = JsonNumber::Kind::Double;
  out.d = strtod_l(s.c_str(), nullptr, c);
  return std::isfinite(out.d);  // underflow reads as 0 or a subnormal, as in rapidjson
}

bool HasSurrogateBytes(const char* s, size_t n) {
  for (size_t i = 0; i + 1 < n; ++i) {
    if (static_cast<unsigned char>(s[i]) == 0xED && (static_cast<unsigned char>(s[i + 1]) & 0xE0) == 0xA0) return true;
  }
  return false;
}

namespace {

// Forwards SAX events to the document and refuses nesting deeper than the bound. The document's
// own handler keeps its values on a heap stack, so nothing here recurses.
class DepthGuard {
 public:
  DepthGuard(rapidjson::Document& doc, unsigned maxDepth, bool refuseSurrogates)
      : doc_(doc), maxDepth_(maxDepth), refuseSurrogates_(refuseSurrogates) {}
  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    JsonNumber number;
    if (!ReadJsonNumber(s, n, number)) {
      tooBig_ = true;
      return false;
    }
    switch (number.kind) {
      case JsonNumber::Kind::Int64: return doc_.Int64(number.i);
      case JsonNumber::Kind::Uint64: return doc_.Uint64(number.u);
      default: return doc_.Double(number.d);
    }
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return Text(s, n) && doc_.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return Text(s, n) && doc_.Key(s, n, copy); }
  bool StartObject() { return Enter() && doc_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) { --depth_; return doc_.EndObject(n); }
  bool StartArray() { return Enter() && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { --depth_; return doc_.EndArray(n); }
  bool TooDeep() const { return tooDeep_; }
  bool Surrogate() const { return surrogate_; }
  bool TooBig() const { return tooBig_; }

 private:
  bool Text(const char* s, rapidjson::SizeType n) {
    if (refuseSurrogates_ && HasSurrogateBytes(s, n)) surrogate_ = true;
    return !surrogate_;
  }
  bool Enter() {
    if (++depth_ > maxDepth_) tooDeep_ = true;
    return !tooDeep_;
  }
  rapidjson::Document& doc_;
  const unsigned maxDepth_;
  const bool refuseSurrogates_;
  unsigned depth_ = 0;
  bool tooDeep_ = false;
  bool surrogate_ = false;
  bool tooBig_ = false;
};

struct Outcome {
  rapidjson::ParseResult result;
  bool tooDeep = false;
  bool surrogate = false;
  bool tooBig = false;
};

template <unsigned kFlags>
Outcome ParseWith(rapidjson::Document& doc, std::string_view text, unsigned maxDepth) {
  Outcome outcome;
  auto generator = [&](rapidjson::Document& target) {
    DepthGuard guard(target, maxDepth, (kFlags & rapidjson::kParseValidateEncodingFlag) != 0);
    rapidjson::MemoryStream bytes(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(bytes);  // as Document::Parse
    rapidjson::Reader reader;
    // Numbers as text, converted by the guard (ReadJsonNumber in Json.h says why).
    outcome.result =
        reader.Parse<kFlags | rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag>(stream, guard);
    outcome.tooDeep = guard.TooDeep();
    outcome.surrogate = guard.Surrogate();
    outcome.tooBig = guard.TooBig();
    return !outcome.result.IsError();
  };
  doc.Populate(generator);
  return outcome;
}

}  // namespace

Result<rapidjson::Document> Parse(std::string_view text, const char* code, const ParseOptions& options,
                                  ParseFailure* failure) {
  auto fail = [&](size_t offset, std::string reason) -> Result<rapidjson::Document> {
    std::string message = "invalid JSON at offset " + std::to_string(offset) + ": " + reason;
    if (failure != nullptr) *failure = ParseFailure{offset, std::move(reason)};
    return MakeError(code, std::move(message), 400);
  };
  if (text.size() > options.limits.maxBytes) {
    return fail(0, "the document of " + std::to_string(text.size()) + " bytes is larger than the limit of " +
                       std::to_string(options.limits.maxBytes) + " bytes");
  }
  constexpr unsigned kEnc = rapidjson::kParseValidateEncodingFlag;
  constexpr unsigned kCfg = rapidjson::kParseCommentsFlag | rapidjson::kParseTrailingCommasFlag;
  constexpr unsigned kStop = rapidjson::kParseStopWhenDoneFlag;
  const unsigned depth = options.limits.maxDepth;
  rapidjson::Document doc;
  Outcome outcome;
  // Flags are template arguments in rapidjson: one instantiation per combination.
  switch ((options.validateEncoding ? 1 : 0) | (options.allowComments ? 2 : 0) | (options.stopWhenDone ? 4 : 0)) {
    case 0: outcome = ParseWith<0>(doc, text, depth); break;
    case 1: outcome = ParseWith<kEnc>(doc, text, depth); break;
    case 2: outcome = ParseWith<kCfg>(doc, text, depth); break;
    case 3: outcome = ParseWith<kEnc | kCfg>(doc, text, depth); break;
    case 4: outcome = ParseWith<kStop>(doc, text, depth); break;
    case 5: outcome = ParseWith<kEnc | kStop>(doc, text, depth); break;
    case 6: outcome = ParseWith<kCfg | kStop>(doc, text, depth); break;
    default: outcome = ParseWith<kEnc | kCfg | kStop>(doc, text, depth); break;
  }
  if (outcome.tooDeep) {
    return fail(outcome.result.Offset(), "arrays and objects nested deeper than " + std::to_string(depth) + " levels");
  }
  if (outcome.tooBig) return fail(outcome.result.Offset(), "Number too big to be stored in double.");
  if (outcome.surrogate) {
    return fail(outcome.result.Offset(), "a \\u escape names a surrogate code point, which is not a character");
  }
  if (outcome.result.IsError()) return fail(outcome.result.Offset(), rapidjson::GetParseError_En(outcome.result.Code()));
  return Result<rapidjson::Document>(std::move(doc));
}

Result<rapidjson::Document> Parse(std::string_view text, const char* code, bool allowComments) {
  ParseOptions options;
  options.allowComments = allowComments;
  return Parse(text, code, options);
}

}  // namespace gw::json
