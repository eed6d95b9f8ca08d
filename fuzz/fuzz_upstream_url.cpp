// The upstream URL and path builder (proxy mode attaches a cloud credential to whatever URL it
// builds) and the readers of request URIs and configured URLs: UpstreamUrl (FromBase, Resolve,
// EncodeQuery, CheckRawQuery), ClientUri::Classify (the incoming-request filter) and
// config::ParseHttpUrl. Input lines: base URL, tail, raw query, then key=value query pairs; the
// tail also serves as a request URI.
// Checked: no crash; a resolved URL starts with the base, names the same host and port, and its
// path below the base is plain segments of [A-Za-z0-9._~,-] without dot-only ones (re-checked here
// independently of the code under test); what Classify names as an operation is one of the six.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzSupport.h"
#include "gw/config/HttpUrl.h"
#include "gw/proxy/ClientUri.h"
#include "gw/proxy/UpstreamUrl.h"

namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool PlainTailByte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("._~,-").find(c) != std::string_view::npos;
}

// `strict`: the URL must also pass config::ParseHttpUrl (which refuses a backslash anywhere). Only for the
// encoded-query Resolve, which the proxy route uses; a raw query passes a backslash through as documented.
void CheckResolved(const gw::proxy::UpstreamUrl& url, const std::string& resolved, bool strict) {
  const std::string& base = url.Base();
  GW_FUZZ_CHECK(resolved.compare(0, base.size(), base) == 0, "resolved URL does not start with the base");
  const std::string rest = resolved.substr(base.size());
  const std::string path = rest.substr(0, rest.find('?'));
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string_view segment(path.data() + start, end - start);
    GW_FUZZ_CHECK(!segment.empty(), "empty segment below the base");
    GW_FUZZ_CHECK(segment.find_first_not_of('.') != std::string_view::npos, "dot segment below the base");
    for (char c : segment) GW_FUZZ_CHECK(PlainTailByte(c), "a byte outside the tail alphabet below the base");
    start = end + 1;
  }
  const std::string query = rest.size() > path.size() ? rest.substr(path.size() + 1) : std::string();
  for (char c : query) {
    GW_FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '#', "a control, space, '#' or non-ASCII byte in the query");
  }
  auto baseParsed = gw::config::ParseHttpUrl(base);
  auto parsed = gw::config::ParseHttpUrl(resolved);
  if (baseParsed && (strict || parsed)) {
    GW_FUZZ_CHECK(parsed.has_value(), "a resolved URL of a good base does not parse");
    GW_FUZZ_CHECK(parsed->host == baseParsed->host && parsed->port == baseParsed->port &&
                      parsed->scheme == baseParsed->scheme,
                  "the resolved URL names another origin");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto lines = Lines(std::string_view(reinterpret_cast<const char*>(data), size));
  const std::string_view base = lines[0];
  const std::string_view tail = lines.size() > 1 ? lines[1] : std::string_view();
  const std::string_view rawQuery = lines.size() > 2 ? lines[2] : std::string_view();
  gw::proxy::QueryParams params;
  for (size_t i = 3; i < lines.size(); ++i) {
    const size_t eq = lines[i].find('=');
    params.emplace_back(std::string(lines[i].substr(0, eq)),
                        eq == std::string_view::npos ? std::string() : std::string(lines[i].substr(eq + 1)));
  }

  gw::config::UrlProblem problem = gw::config::UrlProblem::None;
  if (auto u = gw::config::ParseHttpUrl(base, &problem)) {
    GW_FUZZ_CHECK(u->scheme == "http" || u->scheme == "https", "a scheme other than http(s)");
    GW_FUZZ_CHECK(!u->host.empty() && u->port > 0 && u->port < 65536, "an empty host or a bad port");
    u->IsLoopback();
  } else {
    gw::config::Describe(problem);
  }

  auto url = gw::proxy::UpstreamUrl::FromBase(base);
  if (url.Ok()) {
    if (auto r = url.Value().Resolve(tail, params); r.Ok()) CheckResolved(url.Value(), r.Value(), true);
    if (auto r = url.Value().Resolve(tail, rawQuery); r.Ok()) CheckResolved(url.Value(), r.Value(), false);
  }
  gw::proxy::UpstreamUrl::CheckTail(tail);
  gw::proxy::UpstreamUrl::CheckRawQuery(rawQuery);
  gw::proxy::UpstreamUrl::EncodeQuery(params);

  for (std::string_view root : {std::string_view("/dicom-web/"), rawQuery}) {
    auto c = gw::proxy::ClientUri::Classify(tail, root);
    if (c.kind == gw::proxy::ClientUri::Kind::Operation) {
      GW_FUZZ_CHECK(c.operation == "stow" || c.operation == "wado" || c.operation == "get" ||
                        c.operation == "retrieve" || c.operation == "qido" || c.operation == "delete",
                    "an operation outside the six");
    }
  }
  return 0;
}
