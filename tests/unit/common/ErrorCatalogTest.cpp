// The error-code catalog (gw/common/ErrorCatalog.h): well formed, complete for the sources, in
// agreement with the docs, and one status for TOK-004 wherever it is raised.
#include <catch2/catch.hpp>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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

// The statuses given where `code` is raised: the last argument of a call whose first argument is
// the code, when it is a number (`MakeError("TOK-004", ..., 502)`, `fail("TOK-004", ..., 502)`).
std::map<int, std::string> StatusesGivenFor(const std::string& code) {
  std::map<int, std::string> statuses;
  const std::string needle = "\"" + code + "\"";
  for (const auto& file : SourceFiles()) {
    const std::string text = Read(file);
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
      size_t open = at;
      while (open > 0 && std::isspace(static_cast<unsigned char>(text[open - 1]))) --open;
      if (open == 0 || text[open - 1] != '(') continue;
      int depth = 1;
      size_t close = at + needle.size();
      bool quoted = false;
      for (; close < text.size() && depth > 0; ++close) {
        const char c = text[close];
        if (c == '\\') { ++close; continue; }
        if (c == '"') quoted = !quoted;
        if (quoted) continue;
        if (c == '(') ++depth;
        if (c == ')') --depth;
      }
      size_t end = close - 1;  // at ')'
      size_t start = end;
      while (start > 0 && std::isdigit(static_cast<unsigned char>(text[start - 1]))) --start;
      if (start == end) continue;
      size_t comma = start;
      while (comma > 0 && std::isspace(static_cast<unsigned char>(text[comma - 1]))) --comma;
      if (comma == 0 || text[comma - 1] != ',') continue;
      statuses.emplace(std::stoi(text.substr(start, end - start)), file.filename().string());
    }
  }
  return statuses;
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

TEST_CASE("ErrorCatalog/TOK-004 has one status wherever it is raised", "[common][errors]") {
  const auto given = StatusesGivenFor("TOK-004");
  REQUIRE_FALSE(given.empty());
  for (const auto& [status, file] : given) {
    INFO("TOK-004 raised with " << status << " in " << file);
    CHECK(status == gw::DefaultHttpStatus("TOK-004"));
  }
  CHECK(gw::DefaultHttpStatus("TOK-004") == 502);
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
