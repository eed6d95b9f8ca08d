#include "gw/proxy/ClientUri.h"

#include <strings.h>

#include <array>
#include <optional>
#include <vector>

namespace gw::proxy {

namespace {

constexpr std::array<std::string_view, 6> kOperations = {"stow", "wado", "get", "retrieve", "qido", "delete"};
constexpr std::string_view kServers = "servers";

// Toolbox::SplitUriComponents of Orthanc 1.10.1: the text must start with '/', components are
// split at '/' without decoding, a trailing '/' adds nothing, any other empty component fails.
std::optional<std::vector<std::string_view>> SplitLikeOrthanc(std::string_view uri) {
  if (uri.empty() || uri.front() != '/') return std::nullopt;
  std::vector<std::string_view> out;
  size_t start = 1;
  for (size_t end = 1; end < uri.size(); ++end) {
    if (uri[end] != '/') continue;
    out.push_back(uri.substr(start, end - start));
    start = end + 1;
  }
  if (start < uri.size()) out.push_back(uri.substr(start));
  for (const auto& c : out) {
    if (c.empty()) return std::nullopt;
  }
  return out;
}

// DicomWeb.Root's components ("/dicom-web/" -> {"dicom-web"}); the DICOMweb plugin adds the slashes.
std::vector<std::string_view> RootComponents(std::string_view root) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= root.size(); ++i) {
    if (i == root.size() || root[i] == '/') {
      if (i > start) out.push_back(root.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One round of %XX decoding; false when there was nothing to decode.
bool DecodeOnce(std::string& s) {
  std::string out;
  bool changed = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
      changed = true;
    } else {
      out.push_back(s[i]);
    }
  }
  s.swap(out);
  return changed;
}

// A reading more generous than Orthanc's, to spot URIs meant for the servers routes that another
// layer (a reverse proxy in front of Orthanc, a later Orthanc) might route there: decoded until
// stable (a few rounds), '\' as '/', empty and "." components dropped, ".." resolved.
std::vector<std::string> GenerousComponents(std::string_view uri) {
  std::string text(uri);
  for (int round = 0; round < 4 && DecodeOnce(text); ++round) {
  }
  for (char& c : text) {
    if (c == '\\') c = '/';
  }
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != '/') continue;
    const std::string c = text.substr(start, i - start);
    start = i + 1;
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(c);
  }
  return out;
}

bool SameIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// A component Orthanc would route literally but another reading might not.
bool Ambiguous(std::string_view c) {
  if (c == "." || c == "..") return true;
  for (unsigned char ch : c) {
    if (ch == '%' || ch == '\\' || ch < 0x20 || ch == 0x7f) return true;
  }
  return false;
}

// The filter runs for every request Orthanc serves: most URIs are told apart here, without
// allocating. Without "servers" (any case) and without '%' no reading reaches the servers routes.
bool CannotBeNear(std::string_view uri) {
  if (uri.find('%') != std::string_view::npos) return false;
  for (size_t i = 0; i + kServers.size() <= uri.size(); ++i) {
    if (strncasecmp(uri.data() + i, kServers.data(), kServers.size()) == 0) return false;
  }
  return true;
}

}  // namespace

ClientUri ClientUri::Classify(std::string_view uri, std::string_view root) {
  ClientUri out;
  if (CannotBeNear(uri)) return out;
  const std::vector<std::string_view> prefix = [&] {
    auto p = RootComponents(root);
    p.push_back(kServers);
    return p;
  }();

  if (auto exact = SplitLikeOrthanc(uri); exact && exact->size() >= prefix.size()) {
    bool under = true;
    for (size_t i = 0; i < prefix.size() && under; ++i) under = (*exact)[i] == prefix[i];
    if (under) {
      const std::vector<std::string_view> rest(exact->begin() + static_cast<std::ptrdiff_t>(prefix.size()),
                                               exact->end());
      for (const auto& c : rest) {
        if (Ambiguous(c)) {
          out.kind = Kind::Unclassifiable;
          out.server = std::string(rest.front());
          return out;
        }
      }
      if (rest.empty()) {
        out.kind = Kind::ServerList;
      } else if (rest.size() == 1) {
        out.kind = Kind::Definition;
        out.server = std::string(rest[0]);
      } else if (rest.size() == 2) {
        for (const auto op : kOperations) {
          if (rest[1] == op) {
            out.kind = Kind::Operation;
            out.server = std::string(rest[0]);
            out.operation = std::string(op);
          }
        }
      }
      return out;  // deeper paths (and unknown operations) match no route of the DICOMweb plugin
    }
  }

  // Not routed to the servers routes by Orthanc: refuse it anyway if a more generous reading puts
  // it there (it is no legitimate spelling of anything).
  const auto generous = GenerousComponents(uri);
  if (generous.size() < prefix.size()) return out;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (!SameIgnoringCase(generous[i], prefix[i])) return out;
  }
  out.kind = Kind::Unclassifiable;
  if (generous.size() > prefix.size()) out.server = generous[prefix.size()];
  return out;
}

}  // namespace gw::proxy
