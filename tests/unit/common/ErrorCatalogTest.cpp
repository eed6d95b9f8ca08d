// The error-code catalog (gw/common/ErrorCatalog.h): well formed, complete for the sources, in
// agreement with the docs, and one status for TOK-004 wherever it is raised.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gw/common/Error.h"
#include "gw/common/ErrorCatalog.h"

namespace fs = std::filesystem;

namespace {

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The code at `s[i]` ("AUTH-001": 2-10 capitals, a dash, 3 digits, then no letter or digit), or "".
std::string CodeAt(const std::string& s, size_t i) {
  size_t j = i;
  while (j < s.size() && j - i <= 10 && std::isupper(static_cast<unsigned char>(s[j]))) ++j;
  if (j - i < 2 || j - i > 10 || j >= s.size() || s[j] != '-') return {};
  size_t k = j + 1;
  while (k < s.size() && k - j - 1 < 4 && std::isdigit(static_cast<unsigned char>(s[k]))) ++k;
  if (k - j - 1 != 3) return {};
  if (k < s.size() && std::isalnum(static_cast<unsigned char>(s[k]))) return {};
  return s.substr(i, k - i);
}

// Source files of the gateway: C++, the shipped Lua scripts, the operator page.
std::vector<fs::path> SourceFiles() {
  std::vector<fs::path> files;
  for (const char* dir : {"core", "plugin", "tools", "lua"}) {
    for (const auto& entry : fs::recursive_directory_iterator(fs::path(GW_SOURCE_DIR) / dir)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".cpp" || ext == ".h" || ext == ".lua" || ext == ".js")) {
        files.push_back(entry.path());
      }
    }
  }
  return files;
}

// Strings that have the shape of a code and are none.
const std::set<std::string> kNotCodes = {"AAA-000" /* the shape, in a comment */, "AES-256", "SHA-256"};

// Every code that opens a string literal in the sources ("TOK-004", 'POL-010', "NET-005: ...").
std::map<std::string, std::string> CodesInSources() {
  std::map<std::string, std::string> found;  // code -> first file
  for (const auto& file : SourceFiles()) {
    const std::string text = Read(file);
    for (size_t i = 0; i + 1 < text.size(); ++i) {
      if (text[i] != '"' && text[i] != '\'') continue;
      const std::string code = CodeAt(text, i + 1);
      if (!code.empty() && kNotCodes.count(code) == 0) found.emplace(code, file.string());
    }
  }
  return found;
}

// The names of the code constants (gw/common/ErrorCatalog.h: `kNetTimeout` -> "NET-002"), so that
// a site raising `codes::kNetTimeout` (or `token::codes::...`, the same namespace) is seen like one
// raising "NET-002".
std::map<std::string, std::string> CodeConstants() {
  std::map<std::string, std::string> names;
  const std::string text = Read(fs::path(GW_SOURCE_DIR) / "core/include/gw/common/ErrorCatalog.h");
  const std::string marker = "inline constexpr char ";
  for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
    const size_t name = at + marker.size();
    const size_t bracket = text.find('[', name);
    const size_t quote = text.find('"', name);
    if (bracket == std::string::npos || quote == std::string::npos) continue;
    const std::string code = CodeAt(text, quote + 1);
    if (!code.empty()) names[text.substr(name, bracket - name)] = code;
  }
  return names;
}

// One place where a code is raised with a status: `MakeError("TOK-004", m, 502)`,
// `fail("SIG-001", m, 400)`, `MakeError(codes::kNetTimeout, m, 504)`, or `MakeError("X-001", m)`
// (MakeError's default, 500). Calls whose status is computed, or that have none and are not
// MakeError (CatalogError, MakeTokenError, helpers), are not sites: they take the catalog's.
struct StatusSite {
  std::string code;
  int status;
  std::string file;  // file name only
  int line;
};

std::vector<StatusSite> StatusSites() {
  const auto constants = CodeConstants();
  std::vector<StatusSite> sites;
  for (const auto& file : SourceFiles()) {
    const std::string text = Read(file);
    for (size_t open = text.find('('); open != std::string::npos; open = text.find('(', open + 1)) {
      size_t at = open + 1;
      while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) ++at;
      if (at >= text.size()) break;
      std::string code;
      if (text[at] == '"' || text[at] == '\'') {
        code = CodeAt(text, at + 1);
        if (!code.empty() && (at + 1 + code.size() >= text.size() || text[at + 1 + code.size()] != text[at])) {
          code.clear();  // "NET-005: ..." is a message that starts with a code, not a code
        }
      } else {
        size_t end = at;
        while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_' ||
                                     text[end] == ':')) {
          ++end;
        }
        const std::string name = text.substr(at, end - at);
        const size_t colon = name.rfind("codes::");
        if (colon != std::string::npos) {
          const auto it = constants.find(name.substr(colon + 7));
          if (it != constants.end()) code = it->second;
        }
      }
      if (code.empty() || kNotCodes.count(code) != 0) continue;
      // The callee's name, and the call's top-level arguments.
      size_t nameEnd = open;
      while (nameEnd > 0 && std::isspace(static_cast<unsigned char>(text[nameEnd - 1]))) --nameEnd;
      size_t nameStart = nameEnd;
      while (nameStart > 0 && (std::isalnum(static_cast<unsigned char>(text[nameStart - 1])) ||
                               text[nameStart - 1] == '_')) {
        --nameStart;
      }
      const std::string callee = text.substr(nameStart, nameEnd - nameStart);
      std::vector<std::string> args(1);
      int depth = 1;
      char quote = 0;
      size_t k = open + 1;
      for (; k < text.size() && depth > 0; ++k) {
        const char c = text[k];
        if (quote != 0) {
          if (c == '\\') {
            args.back() += c;
            if (++k < text.size()) args.back() += text[k];
            continue;
          }
          if (c == quote) quote = 0;
          args.back() += c;
          continue;
        }
        if (c == '"' || c == '\'') quote = c;
        if (c == '(' || c == '{' || c == '[') ++depth;
        if (c == ')' || c == '}' || c == ']') {
          if (--depth == 0) break;
        }
        if (c == ',' && depth == 1) {
          args.emplace_back();
          continue;
        }
        args.back() += c;
      }
      std::string last = args.back();
      last.erase(0, last.find_first_not_of(" \t\r\n"));
      last.erase(last.find_last_not_of(" \t\r\n") + 1);
      int status = 0;
      if (args.size() >= 3 && last.size() == 3 && std::all_of(last.begin(), last.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c)) != 0;
          })) {
        status = std::stoi(last);
      } else if (args.size() == 2 && callee == "MakeError") {
        status = 500;
      } else {
        continue;
      }
      const int line = static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(open), '\n')) + 1;
      sites.push_back({code, status, file.filename().string(), line});
    }
  }
  return sites;
}

struct DocRow {
  std::string code;
  std::string status;  // three digits, or "—"
  std::string file;
};

// Table rows of docs/ whose first cell is one code and whose second is a status ("| `PXY-001` | 400 |").
std::vector<DocRow> StatusRowsInDocs() {
  std::vector<DocRow> rows;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(GW_SOURCE_DIR) / "docs")) {
    if (!entry.is_regular_file() || entry.path().extension() != ".md") continue;
    std::istringstream lines(Read(entry.path()));
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line[0] != '|') continue;
      std::vector<std::string> cells;
      std::string cell;
      for (size_t i = 1; i < line.size(); ++i) {
        if (line[i] == '|') {
          cells.push_back(cell);
          cell.clear();
        } else if (line[i] != '`' && line[i] != ' ') {
          cell += line[i];
        }
      }
      if (cells.size() < 2) continue;
      const std::string code = CodeAt(cells[0], 0);
      if (code.empty() || code != cells[0]) continue;
      const bool number = cells[1].size() == 3 && std::isdigit(static_cast<unsigned char>(cells[1][0])) &&
                          std::isdigit(static_cast<unsigned char>(cells[1][1])) &&
                          std::isdigit(static_cast<unsigned char>(cells[1][2]));
      if (number || cells[1] == "—") rows.push_back({code, cells[1], entry.path().filename().string()});
    }
  }
  return rows;
}

std::string DocStatus(const gw::ErrorCodeInfo& info) {
  return (info.traits & gw::kTraitLogOnly) != 0 ? "—" : std::to_string(info.httpStatus);
}

}  // namespace

TEST_CASE("ErrorCatalog/sorted, unique, well-formed codes with a status and a meaning", "[common][errors]") {
  std::string previous;
  size_t count = 0;
  for (const gw::ErrorCodeInfo& info : gw::ErrorCatalog()) {
    INFO(info.code);
    CHECK(gw::IsErrorCode(info.code));
    CHECK(std::string(info.code) > previous);
    CHECK(info.httpStatus >= 400);
    CHECK(info.httpStatus <= 599);
    CHECK_FALSE(info.meaning.empty());
    CHECK(gw::FindErrorCode(info.code) == &info);
    previous = std::string(info.code);
    ++count;
  }
  CHECK(count > 100);
  CHECK(gw::FindErrorCode("TOK-999") == nullptr);
  CHECK(gw::DefaultHttpStatus("TOK-999") == 500);
}

TEST_CASE("ErrorCatalog/helpers and predicates read the catalog", "[common][errors]") {
  CHECK(gw::CatalogError("NET-002", "m").httpStatus == 504);
  CHECK(gw::CatalogError("NET-001", "m").httpStatus == 502);
  CHECK(gw::CatalogError("TOK-006", "m").httpStatus == 404);
  CHECK(gw::CatalogError("XYZ-001", "m").httpStatus == 500);

  for (const char* timeout : {"NET-002", "LUA-004", "PXY-004", "TOK-007"}) {
    CHECK(gw::IsTimeout(gw::MakeError(timeout, "m")));
  }
  CHECK_FALSE(gw::IsTimeout(gw::MakeError("NET-001", "m")));
  CHECK_FALSE(gw::IsTimeout(gw::MakeError("LUA-012", "m")));  // busy, not late

  CHECK(gw::IsScriptRefusal(gw::MakeError("LUA-009", "m")));
  CHECK_FALSE(gw::IsScriptFault(gw::MakeError("LUA-009", "m")));
  CHECK(gw::IsScriptFault(gw::MakeError("LUA-006", "m")));
  CHECK(gw::IsScriptFault(gw::MakeError("LUA-004", "m")));
  CHECK_FALSE(gw::IsScriptFault(gw::MakeError("LUA-012", "m")));
  CHECK(gw::IsScriptFault(gw::MakeError("LUA-099", "m")));  // an unknown LUA code fails closed
  CHECK_FALSE(gw::IsScriptFault(gw::MakeError("POL-010", "m")));
  CHECK_FALSE(gw::IsScriptFault(gw::MakeError("ACL-007", "m")));
}

TEST_CASE("ErrorCatalog/every code used in the sources is in the catalog", "[common][errors]") {
  const auto used = CodesInSources();
  CHECK(used.size() > 100);  // the scan found the sources
  for (const auto& [code, file] : used) {
    INFO(code << " in " << file);
    CHECK(gw::FindErrorCode(code) != nullptr);
  }
  // And nothing stays catalogued after the last place that raised it is gone.
  for (const gw::ErrorCodeInfo& info : gw::ErrorCatalog()) {
    INFO(info.code);
    CHECK(used.count(std::string(info.code)) == 1);
  }
}

// Places that answer another status than the catalog's on purpose: code, status, file, and why.
// Anything else raised with a status of its own is a second status for one code.
struct Override {
  const char* code;
  int status;
  const char* file;
  const char* why;
};
constexpr Override kOverrides[] = {
    {"PXY-002", 503, "ProxyService.cpp", "proxy mode is not running at all: no server is unknown, none is served"},
    {"PXY-006", 500, "LoopbackSecret.cpp", "no random bytes for the secret at start: an internal failure"},
    {"SIG-001", 400, "aws_sigv4.lua", "a request the signer refuses is the caller's request, not a failure"},
    {"LUA-004", 500, "ScriptState.cpp", "a script's top level ran out of time while loading: a refused reload"},
    {"LUA-004", 500, "PolicyEngine.cpp", "the chain's budget was used up: the engine answers POL-002 for it"},
};

bool Overridden(const StatusSite& site) {
  for (const Override& o : kOverrides) {
    if (site.code == o.code && site.status == o.status && site.file == o.file) return true;
  }
  return false;
}

TEST_CASE("ErrorCatalog/every site raises a code with the catalog's status", "[common][errors]") {
  const auto sites = StatusSites();
  for (const StatusSite& site : sites) {
    INFO(site.code << " raised with " << site.status << " at " << site.file << ":" << site.line);
    REQUIRE(gw::FindErrorCode(site.code) != nullptr);
    if (Overridden(site)) continue;
    CHECK(site.status == gw::DefaultHttpStatus(site.code));
  }
  CHECK(sites.size() > 100);  // the scan found the raising sites
  // Each override still exists (else it goes from the list).
  for (const Override& o : kOverrides) {
    INFO(o.code << " " << o.status << " in " << o.file << ": " << o.why);
    CHECK(std::any_of(sites.begin(), sites.end(), [&](const StatusSite& s) {
      return s.code == o.code && s.status == o.status && s.file == o.file;
    }));
  }
}

// Regression: TOK-005 (a token that fails the server's checks) was 502 in the catalog, 503 where
// the validator and the shared cache raised it; TOK-004 was 502 or 503 depending on the provider.
TEST_CASE("ErrorCatalog/TOK-004 and TOK-005 have one status wherever they are raised", "[common][errors]") {
  CHECK(gw::DefaultHttpStatus("TOK-004") == 502);
  CHECK(gw::DefaultHttpStatus("TOK-005") == 502);
  const auto sites = StatusSites();
  size_t tok004 = 0;
  for (const StatusSite& site : sites) {
    if (site.code != "TOK-004" && site.code != "TOK-005") continue;
    INFO(site.code << " raised with " << site.status << " at " << site.file << ":" << site.line);
    CHECK(site.status == 502);
    tok004 += site.code == "TOK-004";
  }
  CHECK(tok004 > 0);  // the shipped providers raise TOK-004 with a status of their own: seen
}

TEST_CASE("ErrorCatalog/docs list the same codes with the same statuses", "[common][errors]") {
  const auto rows = StatusRowsInDocs();
  std::set<std::string> inErrorsPage;
  for (const DocRow& row : rows) {
    INFO(row.code << " in docs/" << row.file);
    const gw::ErrorCodeInfo* info = gw::FindErrorCode(row.code);
    REQUIRE(info != nullptr);
    CHECK(row.status == DocStatus(*info));
    if (row.file == "errors.md") inErrorsPage.insert(row.code);
  }
  for (const gw::ErrorCodeInfo& info : gw::ErrorCatalog()) {
    INFO(info.code << " missing from docs/errors.md");
    CHECK(inErrorsPage.count(std::string(info.code)) == 1);
  }
}

TEST_CASE("SystemErrorText: the text of an errno value, the same from every thread", "[error]") {
  CHECK(gw::SystemErrorText(ENOENT) == "No such file or directory");
  CHECK(gw::SystemErrorText(123456) == "Unknown error 123456");  // not a constant string: the caller's buffer
  std::string fromThread;
  std::thread([&] { fromThread = gw::SystemErrorText(EACCES); }).join();
  CHECK(fromThread == "Permission denied");
}
