#pragma once
// Verification of an audit file (`dicomweb-oauth audit verify`): every line checked with
// CheckLine(), each `prev` equal to the previous line's `hash` (kGenesisHash for the first), each
// seq the previous + 1, and the file ending with a newline.
//
// What it cannot see on its own: lines removed from the END of the file (the remaining file is a
// valid, shorter chain) and a file rewritten from scratch by someone who recomputes every hash.
// Compare the reported last seq/hash with an external copy (the Orthanc log when OrthancLog is on,
// a log shipper) to detect those; docs/audit.md explains.
#include <cstdint>
#include <string>
#include <string_view>

namespace gw::audit {

struct VerifyReport {
  bool ok = false;
  uint64_t records = 0;      // lines that passed (all of them when ok)
  uint64_t firstSeq = 0;
  uint64_t lastSeq = 0;
  std::string lastHash;
  std::string firstTime;     // `time` of the first and last good record
  std::string lastTime;
  uint64_t badLine = 0;      // 1-based line number of the first problem (when !ok)
  std::string problem;       // what is wrong with it
};

VerifyReport VerifyText(std::string_view text);
// As VerifyText; a file that cannot be read gives ok=false, badLine 0 and the reason.
VerifyReport VerifyFile(const std::string& path);

}  // namespace gw::audit
