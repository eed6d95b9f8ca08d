#include "gw/common/SecretRegistry.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>

namespace gw {
namespace {

constexpr size_t kMinSecretLength = 6;

struct Entry {
  std::string secret;
  std::vector<std::string> forms;
};

std::shared_mutex g_mutex;
std::vector<Entry> g_entries;
std::vector<std::string> g_forms;  // union of every entry's forms, longest first
// g_forms by first byte (pointers into g_forms, longest first): Redact scans a text once and tries
// only the forms that can start at each byte. A secret has dozens of derived forms, and every log
// line and audit string goes through Redact.
std::array<std::vector<const std::string*>, 256> g_byFirstByte;
// The first two bytes of every form (forms have at least 6): most positions of a text are ruled
// out by one bit test.
std::bitset<65536> g_firstPairs;

size_t PairIndex(char a, char b) { return (static_cast<size_t>(static_cast<unsigned char>(a)) << 8) | static_cast<unsigned char>(b); }

void RebuildForms() {
  g_forms.clear();
  for (const Entry& e : g_entries) g_forms.insert(g_forms.end(), e.forms.begin(), e.forms.end());
  std::sort(g_forms.begin(), g_forms.end(),
            [](const std::string& a, const std::string& b) { return a.size() != b.size() ? a.size() > b.size() : a < b; });
  g_forms.erase(std::unique(g_forms.begin(), g_forms.end()), g_forms.end());
  for (auto& bucket : g_byFirstByte) bucket.clear();
  g_firstPairs.reset();
  for (const std::string& f : g_forms) {
    g_byFirstByte[static_cast<unsigned char>(f[0])].push_back(&f);
    g_firstPairs.set(PairIndex(f[0], f[1]));
  }
}

// Length of the longest registered form starting at `pos` of `text`, 0 if none.
size_t MatchAt(std::string_view text, size_t pos) {
  if (text.size() - pos < kMinSecretLength || !g_firstPairs.test(PairIndex(text[pos], text[pos + 1]))) return 0;
  for (const std::string* f : g_byFirstByte[static_cast<unsigned char>(text[pos])]) {
    if (text.size() - pos >= f->size() && text.compare(pos, f->size(), *f) == 0) return f->size();
  }
  return 0;
}

// ---- percent-encoding -------------------------------------------------------------------------

bool IsAlnum(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

std::string Percent(std::string_view in, std::string_view kept, std::string_view space, const char* hex) {
  std::string out;
  out.reserve(in.size() * 3);
  for (unsigned char c : in) {
    if (IsAlnum(c) || (c != '\0' && kept.find(static_cast<char>(c)) != std::string_view::npos)) {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += space;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// ---- JSON string escaping ---------------------------------------------------------------------

// The code points of valid UTF-8 `in`, or nothing when it is not valid UTF-8.
std::optional<std::vector<uint32_t>> CodePoints(std::string_view in) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < in.size();) {
    const auto b = static_cast<unsigned char>(in[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (b < 0x80) { n = 1; cp = b; }
    else if ((b & 0xE0) == 0xC0) { n = 2; cp = b & 0x1F; }
    else if ((b & 0xF0) == 0xE0) { n = 3; cp = b & 0x0F; }
    else if ((b & 0xF8) == 0xF0) { n = 4; cp = b & 0x07; }
    else return std::nullopt;
    if (i + n > in.size()) return std::nullopt;
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(in[i + k]);
      if ((c & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    out.push_back(cp);
    i += n;
  }
  return out;
}

void AppendU(std::string& out, uint32_t unit, const char* hex) {
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out += hex[(unit >> shift) & 15];
}

// `slash`: '/' as \/. `nonAscii`: every code point above 0x7F as \uXXXX (surrogate pairs above
// the BMP). Control characters with a short escape use it, the others \u00XX.
std::string JsonEscape(std::string_view in, bool slash, bool nonAscii, const char* hex) {
  std::string out;
  const auto points = nonAscii ? CodePoints(in) : std::nullopt;
  if (nonAscii && !points) return {};
  auto escapeAscii = [&](unsigned char c) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '/': out += slash ? "\\/" : "/"; break;
      default:
        if (c < 0x20) AppendU(out, c, hex);
        else out += static_cast<char>(c);
    }
  };
  if (!nonAscii) {
    for (unsigned char c : in) escapeAscii(c);
    return out;
  }
  for (uint32_t cp : *points) {
    if (cp < 0x80) {
      escapeAscii(static_cast<unsigned char>(cp));
    } else if (cp < 0x10000) {
      AppendU(out, cp, hex);
    } else {
      const uint32_t v = cp - 0x10000;
      AppendU(out, 0xD800 + (v >> 10), hex);
      AppendU(out, 0xDC00 + (v & 0x3FF), hex);
    }
  }
  return out;
}

// ---- base64 -----------------------------------------------------------------------------------

const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Unpadded base64 of `in` with `alphabet`.
std::string Base64(std::string_view in, const char* alphabet) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += alphabet[(v >> shift) & 63];
  }
  const size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (rest == 2) out += alphabet[(v >> 6) & 63];
  }
  return out;
}

// The characters of the encoding of `secret` placed `offset` bytes (0..2) into a longer text that
// depend on the secret's bits only: character c covers bits [6c, 6c + 6) of the text, the secret
// bits [8 * offset, 8 * (offset + size)).
std::string Base64Core(std::string_view secret, size_t offset, const char* alphabet) {
  const std::string padded = std::string(offset, '\0') + std::string(secret);
  const std::string encoded = Base64(padded, alphabet);
  const size_t first = (8 * offset + 5) / 6;
  const size_t end = 8 * (offset + secret.size()) / 6;
  if (end <= first) return {};
  return encoded.substr(first, end - first);
}

void AddUnique(std::vector<std::string>& forms, std::string form) {
  if (form.size() < kMinSecretLength) return;
  if (std::find(forms.begin(), forms.end(), form) == forms.end()) forms.push_back(std::move(form));
}

void AddLocked(std::string_view secret) {
  if (secret.size() < kMinSecretLength) return;
  for (const Entry& e : g_entries) {
    if (e.secret == secret) return;
  }
  g_entries.push_back({std::string(secret), SecretRegistry::DerivedForms(secret)});
  RebuildForms();
}

}  // namespace

std::vector<std::string> SecretRegistry::DerivedForms(std::string_view secret) {
  std::vector<std::string> forms;
  if (secret.size() < kMinSecretLength) return forms;
  forms.emplace_back(secret);
  for (const char* hex : {"0123456789ABCDEF", "0123456789abcdef"}) {
    for (std::string_view kept : {std::string_view("-._~"), std::string_view("*-._"), std::string_view("-_.!~*'()")}) {
      for (std::string_view space : {std::string_view("+"), std::string_view("%20")}) {
        AddUnique(forms, Percent(secret, kept, space, hex));  // '+' is never kept: no clash with a space
      }
    }
    for (bool slash : {false, true}) {
      for (bool nonAscii : {false, true}) AddUnique(forms, JsonEscape(secret, slash, nonAscii, hex));
    }
  }
  // base64 of the secret, and of its form-encoded spellings: HTTP Basic client authentication
  // form-encodes the secret before base64 (RFC 6749 2.3.1).
  std::vector<std::string> encodedSources{std::string(secret)};
  for (std::string_view kept : {std::string_view("-._~"), std::string_view("*-._"), std::string_view("-_.!~*'()")}) {
    std::string form = Percent(secret, kept, "+", "0123456789ABCDEF");
    if (std::find(encodedSources.begin(), encodedSources.end(), form) == encodedSources.end()) {
      encodedSources.push_back(std::move(form));
    }
  }
  for (const char* alphabet : {kBase64, kBase64Url}) {
    std::string plain = Base64(secret, alphabet);
    std::string padded = plain + std::string((4 - plain.size() % 4) % 4, '=');
    AddUnique(forms, padded);
    AddUnique(forms, plain);
    for (const std::string& source : encodedSources) {
      for (size_t offset = 0; offset < 3; ++offset) AddUnique(forms, Base64Core(source, offset, alphabet));
    }
  }
  return forms;
}

void SecretRegistry::Add(std::string_view secret) {
  std::unique_lock lock(g_mutex);
  AddLocked(secret);
}

void SecretRegistry::AddBasicCredential(std::string_view user, std::string_view password) {
  std::string credential;
  credential.reserve(user.size() + 1 + password.size());
  credential.append(user).append(1, ':').append(password);
  std::unique_lock lock(g_mutex);
  AddLocked(credential);
}

void SecretRegistry::Remove(std::string_view secret) {
  std::unique_lock lock(g_mutex);
  const size_t before = g_entries.size();
  g_entries.erase(std::remove_if(g_entries.begin(), g_entries.end(), [&](const Entry& e) { return e.secret == secret; }),
                  g_entries.end());
  if (g_entries.size() != before) RebuildForms();
}

void SecretRegistry::Clear() {
  std::unique_lock lock(g_mutex);
  g_entries.clear();
  RebuildForms();
}

std::string SecretRegistry::Redact(std::string_view text) {
  std::shared_lock lock(g_mutex);
  if (g_forms.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t length = MatchAt(text, i);
    if (length == 0) {
      ++i;
      continue;
    }
    // Forms that overlap this match and reach further are masked with it: one "***" for the
    // union, so no tail of an overlapping secret stays visible.
    size_t end = i + length;
    for (size_t j = i + 1; j < end; ++j) end = std::max(end, j + MatchAt(text, j));
    out.append(text, copied, i - copied);
    out += "***";
    i = copied = end;
  }
  out.append(text, copied, std::string_view::npos);
  return out;
}

}  // namespace gw
