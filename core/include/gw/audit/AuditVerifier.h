#pragma once
// Verification of an audit file (`dicomweb-oauth audit verify`): every line checked with
// CheckLine(), each `prev` equal to the previous line's link (kGenesisHash for the first), each
// seq the previous + 1, the file ending with a newline; keyed records checked under the given
// keys, key records (audit.key) checked against the keys' fingerprints, rotations confirmed by
// the closing MAC of the old key; checkpoints compared with the records they name.
//
// Outcomes, from the first problem met (streaming, constant memory):
//   Intact      every check passed. Unkeyed records (legacy files, or written without
//               Audit.ChainKey) are counted in `unkeyedRecords`: their chain proves nothing
//               against someone able to write the file, and the report says so.
//   Tampered    a record edited, forged, inserted, erased or moved; an incomplete last line; an
//               unkeyed record after keyed ones (downgrade); a record differing from a checkpoint.
//   KeyProblem  keyed records, and no key given, or none of the given keys is the one named by
//               the chain's audit.key record (wrong key, or a file rewritten under another key).
//   Truncated   the file ends before the seq of a checkpoint: records were removed at the end.
//   Unproven    keys were given but the file holds no keyed record: nothing could be proven.
//   Unreadable  the file cannot be read.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gw/audit/AuditChain.h"
#include "gw/audit/AuditCheckpoint.h"

namespace gw::audit {

enum class VerifyStatus { Intact, Tampered, KeyProblem, Truncated, Unproven, Unreadable };
const char* ToString(VerifyStatus status);

struct VerifyOptions {
  std::vector<ChainKey> keys;             // identified by fingerprint; ids do not matter
  std::vector<Checkpoint> checkpoints;
};

// A run of records under one key.
struct KeySegment {
  std::string kid;
  std::string fingerprint;
  uint64_t firstSeq = 0;
  uint64_t lastSeq = 0;
  std::string reason;  // of its audit.key record: new-file, upgrade, rotation
};

struct VerifyReport {
  bool ok = false;
  VerifyStatus status = VerifyStatus::Unreadable;
  uint64_t records = 0;      // lines that passed (all of them when ok)
  uint64_t firstSeq = 0;
  uint64_t lastSeq = 0;
  std::string lastHash;      // link of the last good record (mac or hash)
  std::string chain;         // link of the first record
  std::string firstTime;     // `time` of the first and last good record
  std::string lastTime;
  uint64_t unkeyedRecords = 0;  // good records with `hash` (always at the start of the file)
  uint64_t keyedRecords = 0;
  std::vector<KeySegment> keys;  // in file order
  uint64_t checkpointsMatched = 0;
  uint64_t checkpointsOtherChain = 0;  // of another chain (another file): not applicable
  uint64_t lastCheckpointSeq = 0;      // highest matched
  uint64_t badLine = 0;      // 1-based line number of the first problem (when !ok; 0: none)
  std::string problem;       // what is wrong
};

VerifyReport VerifyText(std::string_view text, const VerifyOptions& options = {});
// As VerifyText; a file that cannot be read gives status Unreadable and the reason.
VerifyReport VerifyFile(const std::string& path, const VerifyOptions& options = {});

}  // namespace gw::audit
