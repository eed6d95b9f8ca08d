#include "gw/audit/AuditVerifier.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>

namespace gw::audit {

const char* ToString(VerifyStatus status) {
  switch (status) {
    case VerifyStatus::Intact: return "intact";
    case VerifyStatus::Tampered: return "tampered";
    case VerifyStatus::KeyProblem: return "key";
    case VerifyStatus::Truncated: return "truncated";
    case VerifyStatus::Unproven: return "unproven";
    case VerifyStatus::Unreadable: return "unreadable";
  }
  return "?";
}

namespace {

// Longer than any line the writer makes (records are capped at 64 KiB of fields; the writer reads
// back at most 1 MiB at start).
constexpr size_t kMaxLineBytes = 1 << 20;

std::string Member(const rapidjson::Value& o, const char* name) {
  auto it = o.FindMember(name);
  return it != o.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                                     : std::string();
}

// Checks lines one at a time, so a file of any size is verified in constant memory.
class ChainCheck {
 public:
  explicit ChainCheck(const VerifyOptions& options) : options_(options) {
    for (const Checkpoint& c : options.checkpoints) pending_.push_back(&c);
    std::sort(pending_.begin(), pending_.end(), [](const Checkpoint* a, const Checkpoint* b) { return a->seq < b->seq; });
  }

  // A line longer than any record the writer makes (never parsed).
  bool TooLong() {
    ++lineNo_;
    return Fail(VerifyStatus::Tampered, "the line is longer than 1 MiB: not a record of this format");
  }

  // False (and report() filled) at the first problem.
  bool Line(std::string_view line, bool complete) {
    ++lineNo_;
    if (!complete) {
      return Fail(VerifyStatus::Tampered,
                  "the last line is incomplete (no newline at the end: the file was truncated or a write was cut)");
    }
    auto checked = CheckLine(line);
    if (!checked.Ok()) return Fail(VerifyStatus::Tampered, checked.GetError().message);
    const CheckedLine& c = checked.Value();
    if (c.prev != expected_.hash) {
      return Fail(VerifyStatus::Tampered,
                  lineNo_ == 1 ? "`prev` is not the genesis value: the file does not start with its first record "
                                 "(lines deleted at the start)"
                               : "`prev` does not match the link of line " + std::to_string(lineNo_ - 1) +
                                     " (a line was inserted, deleted or moved before this one)");
    }
    if (c.position.seq != expected_.seq + 1) {
      return Fail(VerifyStatus::Tampered,
                  "`seq` is " + std::to_string(c.position.seq) + ", expected " + std::to_string(expected_.seq + 1));
    }
    if (lineNo_ == 1) SelectCheckpoints(c.position.hash);
    if (c.position.keyed ? !Keyed(c) : !Unkeyed()) return false;
    if (!Checkpoints(c.position)) return false;

    expected_ = c.position;
    if (report_.records == 0) {
      report_.firstSeq = c.position.seq;
      report_.firstTime = c.time;
      report_.chain = c.position.hash;
    }
    ++report_.records;
    report_.lastSeq = c.position.seq;
    report_.lastHash = c.position.hash;
    report_.lastTime = c.time;
    if (!report_.keys.empty() && c.position.keyed) report_.keys.back().lastSeq = c.position.seq;
    return true;
  }

  VerifyReport Done() {
    if (lineNo_ == 0) SelectCheckpoints("");
    // Checkpoints beyond the end: records were removed from the end of the file (named by the
    // highest checkpoint, which says the most).
    if (next_ < pending_.size()) {
      const Checkpoint& cp = *pending_.back();
      if (cp.seq > report_.lastSeq) {
        ++lineNo_;  // the first missing line
        Fail(VerifyStatus::Truncated,
                    "truncated: the file ends at seq " + std::to_string(report_.lastSeq) + " but the checkpoint " +
                        cp.origin + (cp.time.empty() ? "" : " (" + cp.time + ")") + " recorded seq " +
                        std::to_string(cp.seq) + ": " + std::to_string(cp.seq - report_.lastSeq) +
                        " record(s) were removed from the end");
        return report_;
      }
    }
    if (!options_.keys.empty() && report_.keyedRecords == 0) {
      Fail(VerifyStatus::Unproven,
           report_.records == 0 ? "the file holds no record: a key proves nothing here"
                                : "a key was given but no record is keyed: this unkeyed (SHA-256) chain proves nothing "
                                  "against someone able to write the file, and a keyed file rewritten as unkeyed "
                                  "looks the same");
      report_.badLine = 0;
      return report_;
    }
    report_.ok = true;
    report_.status = VerifyStatus::Intact;
    return report_;
  }
  const VerifyReport& Report() const { return report_; }

 private:
  bool Fail(VerifyStatus status, std::string problem) {
    report_.ok = false;
    report_.status = status;
    report_.badLine = lineNo_;
    report_.problem = std::move(problem);
    return false;
  }

  bool Unkeyed() {
    if (current_ != nullptr || !currentKid_.empty()) {
      return Fail(VerifyStatus::Tampered,
                  "an unkeyed record (`hash`) after keyed records: the keyed chain was cut here and continued without "
                  "the key (downgrade)");
    }
    ++report_.unkeyedRecords;
    return true;
  }

  const ChainKey* KeyByFingerprint(const std::string& fingerprint) const {
    for (const ChainKey& k : options_.keys) {
      if (k.fingerprint == fingerprint) return &k;
    }
    return nullptr;
  }

  bool Keyed(const CheckedLine& c) {
    if (c.event == kKeyEvent) return KeyRecord(c);
    if (currentKid_.empty()) {
      return Fail(VerifyStatus::Tampered,
                  "a keyed record without the audit.key record that starts every keyed chain (erased, or the records "
                  "were forged)");
    }
    if (c.position.kid != currentKid_) {
      return Fail(VerifyStatus::Tampered, "`kid` is " + c.position.kid + " but the chain is under key id " +
                                              currentKid_ + " and no rotation record says so");
    }
    if (!MacMatches(c, *current_)) {
      return Fail(VerifyStatus::Tampered,
                  "`mac` does not match the record under key id " + currentKid_ +
                      " (the line was edited, forged, or resealed without the key)");
    }
    ++report_.keyedRecords;
    return true;
  }

  bool KeyRecord(const CheckedLine& c) {
    auto fields = c.doc.FindMember("fields");
    if (fields == c.doc.MemberEnd() || !fields->value.IsObject()) {
      return Fail(VerifyStatus::Tampered, "an audit.key record without its fields");
    }
    const rapidjson::Value& f = fields->value;
    const std::string kid = Member(f, "kid");
    const std::string fingerprint = Member(f, "fingerprint");
    const std::string reason = Member(f, "reason");
    if (kid != c.position.kid || fingerprint.size() != 16) {
      return Fail(VerifyStatus::Tampered, "an audit.key record whose fields.kid or fields.fingerprint is malformed");
    }
    const bool rotation = reason == "rotation";
    if (rotation != !currentKid_.empty()) {
      return Fail(VerifyStatus::Tampered,
                  rotation ? "a rotation record with no keyed record before it"
                           : "an audit.key record (" + reason + ") in the middle of a keyed chain: only a rotation "
                             "may change the key");
    }
    const ChainKey* key = KeyByFingerprint(fingerprint);
    if (key == nullptr) {
      std::string given;
      for (const ChainKey& k : options_.keys) given += (given.empty() ? "" : ", ") + k.fingerprint;
      return Fail(VerifyStatus::KeyProblem,
                  options_.keys.empty()
                      ? "the records from here on are keyed (key id " + kid + ", fingerprint " + fingerprint +
                            "): give the key (--key) to verify them"
                      : "wrong key: the records from here on are under key id " + kid + " (fingerprint " +
                            fingerprint + "); the given key(s) have fingerprint(s) " + given +
                            " (or the file was rewritten under another key)");
    }
    if (!MacMatches(c, *key)) {
      return Fail(VerifyStatus::Tampered, "`mac` of the audit.key record does not match under the key with fingerprint " +
                                              fingerprint + " (the line was edited or forged)");
    }
    if (rotation) {
      if (Member(f, "previousKid") != currentKid_) {
        return Fail(VerifyStatus::Tampered, "the rotation record's previousKid is not the chain's key id " + currentKid_);
      }
      if (!ClosingMacMatches(c, *current_)) {
        return Fail(VerifyStatus::Tampered,
                    "the rotation record's closingMac does not verify under the previous key (id " + currentKid_ +
                        "): the rotation was not made by the holder of that key");
      }
    }
    current_ = key;
    currentKid_ = kid;
    report_.keys.push_back(KeySegment{kid, fingerprint, c.position.seq, c.position.seq, reason});
    ++report_.keyedRecords;
    return true;
  }

  // The checkpoints that apply to this chain (first link `chain`; "" for an empty file: all).
  void SelectCheckpoints(const std::string& chain) {
    std::vector<const Checkpoint*> keep;
    for (const Checkpoint* c : pending_) {
      if (chain.empty() || c->chain.empty() || c->chain == chain) keep.push_back(c);
      else ++report_.checkpointsOtherChain;
    }
    pending_.swap(keep);
  }

  bool Checkpoints(const ChainPosition& p) {
    while (next_ < pending_.size() && pending_[next_]->seq == p.seq) {
      const Checkpoint& cp = *pending_[next_];
      if (cp.link != p.hash) {
        return Fail(VerifyStatus::Tampered,
                    "the record differs from the checkpoint " + cp.origin + " (seq " + std::to_string(cp.seq) +
                        "): the chain was rewritten at or before this line");
      }
      ++report_.checkpointsMatched;
      report_.lastCheckpointSeq = p.seq;
      ++next_;
    }
    return true;
  }

  const VerifyOptions& options_;
  VerifyReport report_;
  ChainPosition expected_;  // genesis
  uint64_t lineNo_ = 0;
  const ChainKey* current_ = nullptr;
  std::string currentKid_;
  std::vector<const Checkpoint*> pending_;  // by seq
  size_t next_ = 0;
};

}  // namespace

VerifyReport VerifyText(std::string_view text, const VerifyOptions& options) {
  ChainCheck check(options);
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const bool complete = end != std::string_view::npos;
    const std::string_view line = text.substr(start, complete ? end - start : std::string_view::npos);
    if (line.size() > kMaxLineBytes) {
      check.TooLong();
      return check.Report();
    }
    if (!check.Line(line, complete)) return check.Report();
    start = complete ? end + 1 : text.size();
  }
  return check.Done();
}

VerifyReport VerifyFile(const std::string& path, const VerifyOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    VerifyReport report;
    report.problem = "cannot open " + path;
    return report;
  }
  // Block by block, with a bounded line: a hostile file (one endless line) cannot make verify
  // hold more than kMaxLineBytes of it.
  ChainCheck check(options);
  std::string line;
  std::vector<char> block(64 * 1024);
  bool tooLong = false;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const auto got = static_cast<size_t>(in.gcount());
    size_t start = 0;
    while (start < got) {
      const char* nl = static_cast<const char*>(std::memchr(block.data() + start, '\n', got - start));
      const size_t end = nl ? static_cast<size_t>(nl - block.data()) : got;
      if (!tooLong) line.append(block.data() + start, end - start);
      if (line.size() > kMaxLineBytes) {
        tooLong = true;
        line.clear();
      }
      if (!nl) break;
      if (tooLong ? !check.TooLong() : !check.Line(line, true)) return check.Report();
      line.clear();
      tooLong = false;
      start = end + 1;
    }
  }
  if (in.bad()) {
    VerifyReport report;
    report.problem = "cannot read " + path;
    return report;
  }
  if (tooLong) {
    check.TooLong();
    return check.Report();
  }
  if (!line.empty() && !check.Line(line, false)) return check.Report();
  return check.Done();
}

}  // namespace gw::audit
