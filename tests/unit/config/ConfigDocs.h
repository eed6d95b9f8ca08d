#pragma once
// The key tables of docs/configuration.md as the configuration tests read them.
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gw/config/ConfigKeys.h"

namespace gw::config::test {

struct DocRow {
  std::string type;          // the second column
  std::string defaultValue;  // the third column
};

// Rows of the key tables of docs/configuration.md by object and key: "Section keys", "Audit keys",
// "Server keys" (whose last table, after "`ResilienceConfig` (", holds ResilienceConfig's). A row
// naming several keys ("`JWTAudience`, `JWTIssuer`") gives each the row.
inline std::map<KeyObject, std::map<std::string, DocRow>> DocumentedRows() {
  std::ifstream in(std::string(GW_SOURCE_DIR) + "/docs/configuration.md", std::ios::binary);
  std::map<KeyObject, std::map<std::string, DocRow>> rows;
  KeyObject object = KeyObject::Section;
  bool inTable = false;  // under a heading of key tables
  bool header = false;
  std::string line;
  const std::regex ticked("`([A-Za-z][A-Za-z0-9]*)`");
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      inTable = true;
      if (line == "## Section keys") object = KeyObject::Section;
      else if (line.rfind("## Audit keys", 0) == 0) object = KeyObject::Audit;
      else if (line.rfind("## Server keys", 0) == 0) object = KeyObject::Server;
      else inTable = false;
      continue;
    }
    if (!inTable) continue;
    if (line.rfind("`ResilienceConfig` (", 0) == 0) object = KeyObject::Resilience;
    if (line.rfind("|", 0) != 0) {
      header = true;
      continue;
    }
    if (header) {
      if (line.find("---") != std::string::npos) header = false;
      continue;
    }
    std::vector<std::string> cells;
    std::stringstream split(line.substr(1));
    for (std::string cell; std::getline(split, cell, '|');) cells.push_back(cell);
    if (cells.size() < 3) continue;
    for (std::sregex_iterator it(cells[0].begin(), cells[0].end(), ticked), end; it != end; ++it) {
      rows[object][(*it)[1]] = DocRow{cells[1], cells[2]};
    }
  }
  return rows;
}

inline std::string HealthRow() {
  std::ifstream in(std::string(GW_SOURCE_DIR) + "/docs/configuration.md", std::ios::binary);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| `Health` |", 0) == 0) return line;
  }
  return {};
}

}  // namespace gw::config::test
