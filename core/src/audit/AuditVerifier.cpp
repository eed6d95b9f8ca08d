#include "gw/audit/AuditVerifier.h"

#include <fstream>

#include "gw/audit/AuditChain.h"

namespace gw::audit {
namespace {

// Checks lines one at a time, so a file of any size is verified in constant memory.
class ChainCheck {
 public:
  // False (and report() filled) at the first problem.
  bool Line(std::string_view line, bool complete) {
    ++lineNo_;
    if (!complete) {
      return Fail("the last line is incomplete (no newline at the end: the file was truncated or a write was cut)");
    }
    auto checked = CheckLine(line);
    if (!checked.Ok()) return Fail(checked.GetError().message);
    const CheckedLine& c = checked.Value();
    if (c.prev != expected_.hash) {
      return Fail(lineNo_ == 1 ? "`prev` is not the genesis value: the file does not start with its first record "
                                 "(lines deleted at the start)"
                               : "`prev` does not match the hash of line " + std::to_string(lineNo_ - 1) +
                                     " (a line was inserted, deleted or moved before this one)");
    }
    if (c.position.seq != expected_.seq + 1) {
      return Fail("`seq` is " + std::to_string(c.position.seq) + ", expected " + std::to_string(expected_.seq + 1));
    }
    expected_ = c.position;
    if (report_.records == 0) {
      report_.firstSeq = c.position.seq;
      report_.firstTime = c.time;
    }
    ++report_.records;
    report_.lastSeq = c.position.seq;
    report_.lastHash = c.position.hash;
    report_.lastTime = c.time;
    return true;
  }

  VerifyReport Done() {
    report_.ok = true;
    return report_;
  }
  const VerifyReport& Report() const { return report_; }

 private:
  bool Fail(std::string problem) {
    report_.ok = false;
    report_.badLine = lineNo_;
    report_.problem = std::move(problem);
    return false;
  }

  VerifyReport report_;
  ChainPosition expected_;  // genesis
  uint64_t lineNo_ = 0;
};

}  // namespace

VerifyReport VerifyText(std::string_view text) {
  ChainCheck check;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const bool complete = end != std::string_view::npos;
    const std::string_view line = text.substr(start, complete ? end - start : std::string_view::npos);
    if (!check.Line(line, complete)) return check.Report();
    start = complete ? end + 1 : text.size();
  }
  return check.Done();
}

VerifyReport VerifyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    VerifyReport report;
    report.problem = "cannot open " + path;
    return report;
  }
  ChainCheck check;
  std::string line;
  while (std::getline(in, line)) {
    // getline sets eof only when the last line had no newline.
    if (!check.Line(line, !in.eof())) return check.Report();
  }
  if (in.bad()) {
    VerifyReport report;
    report.problem = "cannot read " + path;
    return report;
  }
  return check.Done();
}

}  // namespace gw::audit
