#pragma once
// Helpers of the audit tests: sealed test chains, file contents, line surgery.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gw/audit/AuditChain.h"
#include "lua/LuaTestSupport.h"

namespace gw::audit::test {

using lua::test::TempDir;

// One test record (fields.i = i) without seq, prev or link.
inline rapidjson::Document TestRecord(int i) {
  rapidjson::Document record;
  record.SetObject();
  auto& a = record.GetAllocator();
  record.AddMember("event", "test.event", a);
  record.AddMember("server", "pacs", a);
  record.AddMember("snapshot", 1, a);
  record.AddMember("time", "2026-11-22T17:00:00.000Z", a);
  rapidjson::Value fields(rapidjson::kObjectType);
  fields.AddMember("i", i, a);
  const std::string note = "record number " + std::to_string(i);
  fields.AddMember("note", rapidjson::Value(note.c_str(), a), a);
  record.AddMember("fields", fields, a);
  return record;
}

// `n` sealed unkeyed records (the legacy format) as the file text, each line ending with '\n'.
inline std::string MakeChain(int n, ChainPosition start = {}) {
  std::string text;
  for (int i = 0; i < n; ++i) {
    rapidjson::Document record = TestRecord(i);
    text += SealRecord(record, start) + "\n";
  }
  return text;
}

// Real write failures for this process: files cannot grow past `bytes` (RLIMIT_FSIZE) and a write
// past it fails with EFBIG (SIGXFSZ ignored) until Lift(), or the end of the scope.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGXFSZ, &ignore, &previous_);
    ::getrlimit(RLIMIT_FSIZE, &old_);
    struct rlimit limited = old_;
    limited.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
    active_ = true;
  }
  ~FileSizeLimit() {
    if (active_) Restore();
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

  void Lift() {
    REQUIRE(Restore());
  }

 private:
  bool Restore() {
    active_ = false;
    const bool ok = ::setrlimit(RLIMIT_FSIZE, &old_) == 0;
    ::sigaction(SIGXFSZ, &previous_, nullptr);
    return ok;
  }
  struct sigaction previous_ {};
  struct rlimit old_ {};
  bool active_ = false;
};

inline std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline std::string JoinLines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  return text;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline void WriteAll(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline unsigned ModeOf(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

inline rapidjson::Document ParseLine(const std::string& line) {
  rapidjson::Document d;
  d.Parse(line.c_str());
  if (d.HasParseError() || !d.IsObject()) throw std::runtime_error("not a record: " + line);
  return d;
}

}  // namespace gw::audit::test
