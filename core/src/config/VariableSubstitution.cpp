#include "gw/config/VariableSubstitution.h"

#include <cstdlib>

#include "gw/config/JsonPath.h"

namespace gw::config {
namespace {

// One `${...}` reference recognised at a position of the text, following the alternatives of
// Orthanc's pattern in order (see the header).
struct Reference {
  size_t length = 0;
  std::string name;
  bool hasDefault = false;
  std::string defaultValue;
};

std::optional<Reference> MatchAt(std::string_view t, size_t i) {
  const size_t n = t.size();
  if (i + 1 >= n || t[i] != '$' || t[i + 1] != '{') return std::nullopt;
  const size_t start = i + 2;
  size_t j = start;
  while (j < n && t[j] != ':' && t[j] != '}') ++j;
  if (j >= n) return std::nullopt;
  if (t[j] == '}') {  // ${NAME}
    return Reference{j + 1 - i, std::string(t.substr(start, j - start)), false, {}};
  }
  // t[j] == ':' ends the name of every other form, which continue with ":-".
  if (j + 1 >= n || t[j + 1] != '-') return std::nullopt;
  const std::string name(t.substr(start, j - start));
  const size_t d = j + 2;
  size_t k = d;
  while (k < n && t[k] != '}' && t[k] != '\'' && t[k] != '"') ++k;
  if (k < n && t[k] == '}') {  // ${NAME:-default}
    return Reference{k + 1 - i, name, true, std::string(t.substr(d, k - d))};
  }
  if (d < n && (t[d] == '"' || t[d] == '\'')) {  // ${NAME:-"default"} or ${NAME:-'default'}
    const size_t close = t.find(t[d], d + 1);
    if (close != std::string_view::npos && close + 1 < n && t[close + 1] == '}') {
      return Reference{close + 2 - i, name, true, std::string(t.substr(d + 1, close - d - 1))};
    }
  }
  return std::nullopt;
}

// Minimal decoding of a JSON string body (for key names): common escapes and \uXXXX as UTF-8.
std::string DecodeJsonString(std::string_view body) {
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out += c;
      continue;
    }
    char e = body[++i];
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        if (i + 4 >= body.size()) {
          out += 'u';
          break;
        }
        unsigned code = 0;
        bool ok = true;
        for (size_t k = 1; k <= 4; ++k) {
          const char h = body[i + k];
          code <<= 4;
          if (h >= '0' && h <= '9') code |= static_cast<unsigned>(h - '0');
          else if (h >= 'a' && h <= 'f') code |= static_cast<unsigned>(h - 'a' + 10);
          else if (h >= 'A' && h <= 'F') code |= static_cast<unsigned>(h - 'A' + 10);
          else ok = false;
        }
        if (!ok) {
          out += 'u';
          break;
        }
        i += 4;
        if (code < 0x80) {
          out += static_cast<char>(code);
        } else if (code < 0x800) {
          out += static_cast<char>(0xC0 | (code >> 6));
          out += static_cast<char>(0x80 | (code & 0x3F));
        } else {
          out += static_cast<char>(0xE0 | (code >> 12));
          out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (code & 0x3F));
        }
        break;
      }
      default: out += e; break;  // \" \\ \/
    }
  }
  return out;
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

SubstitutionResult VariableSubstitution::Substitute(std::string_view raw, const EnvLookup& env) {
  SubstitutionResult result;
  result.text.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    const size_t next = raw.find("${", i);
    if (next == std::string_view::npos) {
      result.text.append(raw.substr(i));
      break;
    }
    result.text.append(raw.substr(i, next - i));
    const std::optional<Reference> ref = MatchAt(raw, next);
    if (!ref) {
      result.text += '$';
      i = next + 1;
      continue;
    }
    VariableMatch match;
    match.offset = next;
    match.length = ref->length;
    match.use.name = ref->name;
    match.use.hasDefault = ref->hasDefault;
    if (ref->name.empty()) {
      result.emptyNames.push_back(next);
    } else {
      const std::optional<std::string> value = env(ref->name);
      match.use.set = value.has_value();
      const std::string& replacement = value ? *value : ref->defaultValue;
      match.use.resultEmpty = replacement.empty();
      result.text += replacement;
    }
    result.matches.push_back(std::move(match));
    i = next + ref->length;
  }
  return result;
}

VariableMap VariableSubstitution::MapPaths(std::string_view raw,
                                           const std::vector<VariableMatch>& matches) {
  struct Frame {
    bool isObject = true;
    bool expectKey = true;
    std::string key;
    size_t index = 0;
    std::string path;  // path of this container
  };
  VariableMap map;
  std::vector<Frame> stack;
  size_t m = 0;  // next match not yet located
  const size_t n = raw.size();

  auto valuePath = [&stack]() -> std::optional<std::string> {
    if (stack.empty()) return std::nullopt;
    const Frame& top = stack.back();
    if (top.isObject) {
      if (top.expectKey) return std::nullopt;  // inside a key or between members
      return JoinPath(top.path, top.key);
    }
    return JoinIndex(top.path, top.index);
  };
  auto record = [&](size_t matchIndex, const std::optional<std::string>& path) {
    if (path && !matches[matchIndex].use.name.empty()) map.Add(*path, matches[matchIndex].use);
  };
  auto skipMatchesBefore = [&](size_t offset) {
    while (m < matches.size() && matches[m].offset < offset) ++m;
  };

  size_t i = 0;
  while (i < n) {
    if (m < matches.size() && matches[m].offset == i) {  // a bare reference used as a value
      record(m, valuePath());
      i += matches[m].length;
      ++m;
      continue;
    }
    const char c = raw[i];
    if (c == '/' && i + 1 < n && raw[i + 1] == '/') {
      size_t end = raw.find('\n', i);
      i = end == std::string_view::npos ? n : end + 1;
      skipMatchesBefore(i);
      continue;
    }
    if (c == '/' && i + 1 < n && raw[i + 1] == '*') {
      size_t end = raw.find("*/", i + 2);
      i = end == std::string_view::npos ? n : end + 2;
      skipMatchesBefore(i);
      continue;
    }
    if (c == '"') {
      const bool isKey = !stack.empty() && stack.back().isObject && stack.back().expectKey;
      const std::optional<std::string> path = isKey ? std::nullopt : valuePath();
      size_t j = i + 1;
      while (j < n) {
        if (m < matches.size() && matches[m].offset == j) {
          record(m, path);
          j += matches[m].length;
          ++m;
          continue;
        }
        if (raw[j] == '\\') {
          j += 2;
          continue;
        }
        if (raw[j] == '"') break;
        ++j;
      }
      const size_t end = j < n ? j : n;
      if (isKey) stack.back().key = DecodeJsonString(raw.substr(i + 1, end - i - 1));
      i = end + 1;
      skipMatchesBefore(i);
      continue;
    }
    if (c == '{' || c == '[') {
      Frame frame;
      frame.isObject = c == '{';
      if (!stack.empty()) {
        const std::optional<std::string> p = valuePath();
        frame.path = p ? *p : stack.back().path;
      }
      stack.push_back(std::move(frame));
    } else if (c == '}' || c == ']') {
      if (!stack.empty()) stack.pop_back();
    } else if (c == ':') {
      if (!stack.empty() && stack.back().isObject) stack.back().expectKey = false;
    } else if (c == ',') {
      if (!stack.empty()) {
        if (stack.back().isObject) stack.back().expectKey = true;
        else ++stack.back().index;
      }
    }
    ++i;
  }
  return map;
}

VariableMap VariableSubstitution::Scan(std::string_view raw, const EnvLookup& env) {
  return MapPaths(raw, Substitute(raw, env).matches);
}

}  // namespace gw::config
