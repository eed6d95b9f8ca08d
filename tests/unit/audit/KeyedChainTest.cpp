// The keyed chain (HMAC-SHA256 under Audit.ChainKey), key rotation and checkpoints, against the
// attacks of the hardening suite: whoever can write the audit file but does not hold the key must
// not be able to forge, erase, reseal or cut records unnoticed.
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "AuditTestSupport.h"
#include "gw/audit/AuditCheckpoint.h"
#include "gw/audit/AuditFileWriter.h"
#include "gw/audit/AuditVerifier.h"
#include "gw/common/Json.h"
#include "gw/common/Log.h"
#include "gw/crypto/Encoding.h"

using namespace gw::audit;
using namespace gw::audit::test;
using namespace std::chrono_literals;

namespace {

// Planted key values: a scan for them must find nothing outside the test's own variables.
const std::string kKeyA = "planted-chain-key-A-7f3e91c04b2d5a68e1f0c9b7";
const std::string kKeyB = "planted-chain-key-B-2c8d14e6a90b3f57d2e1a4c8";

struct Written {
  std::vector<std::string> checkpoints;  // JSON of each checkpoint, in order
  ChainPosition position;
};

// Opens a writer on `path` under `key` (none: unkeyed), writes `n` records, stops it.
Written WriteRecords(const std::string& path, std::optional<ChainKey> key, int n,
                     std::optional<std::string> previous = std::nullopt, uint64_t checkpointEvery = 1000,
                     const std::string& checkpointFile = {}) {
  Written out;
  std::mutex m;
  WriterOptions options;
  options.path = path;
  options.fsyncInterval = 0ms;
  options.key = std::move(key);
  options.previousKeySecret = std::move(previous);
  options.checkpointEvery = checkpointEvery;
  options.checkpointFile = checkpointFile;
  options.onCheckpoint = [&](const std::string& c) {
    std::lock_guard<std::mutex> lock(m);
    out.checkpoints.push_back(c);
  };
  auto w = AuditFileWriter::Open(options);
  INFO((w.Ok() ? "" : w.GetError().ToString()));
  REQUIRE(w.Ok());
  for (int i = 0; i < n; ++i) REQUIRE(w.Value()->Enqueue(TestRecord(i), 1s));
  REQUIRE(w.Value()->Flush(5s));
  w.Value()->Stop();
  out.position = w.Value()->Position();
  return out;
}

VerifyOptions Keys(std::initializer_list<std::string> secrets) {
  VerifyOptions o;
  for (const auto& s : secrets) o.keys.push_back(MakeChainKey(s));
  return o;
}

Checkpoint ParseOne(const std::string& json) {
  auto parsed = ParseCheckpoints(std::string(kCheckpointMarker) + json, "test");
  REQUIRE(parsed.Ok());
  REQUIRE(parsed.Value().size() == 1);
  return parsed.Value().front();
}

// What an attacker without the key can do to a line: change it and recompute its link with the
// legacy method (SHA-256), or with a key of their own under the same kid.
std::string ResealUnkeyed(const std::string& line, const std::string& prev) {
  auto doc = ParseLine(line);
  for (const char* m : {"mac", "kid", "closingMac", "hash", "seq", "prev"}) doc.RemoveMember(m);
  ChainPosition p{ParseLine(line)["seq"].GetUint64() - 1, prev};
  return SealRecord(doc, p);
}

std::string ResealUnderGuessedKey(const std::string& line, const std::string& prev, const std::string& kid) {
  auto doc = ParseLine(line);
  for (const char* m : {"mac", "kid", "closingMac", "hash", "seq", "prev"}) doc.RemoveMember(m);
  ChainPosition p{ParseLine(line)["seq"].GetUint64() - 1, prev};
  return SealKeyedRecord(doc, p, MakeChainKey("attacker-guess-0000000000000000000000000", kid));
}

std::string LinkOf(const std::string& line) {
  auto d = ParseLine(line);
  return d.HasMember("mac") ? d["mac"].GetString() : d["hash"].GetString();
}

}  // namespace

TEST_CASE("Hardening: a keyed chain starts with its key record and verifies only under the key", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  const ChainKey key = MakeChainKey(kKeyA);
  WriteRecords(path, key, 4);
  const auto lines = SplitLines(ReadAll(path));
  REQUIRE(lines.size() == 5);
  auto first = ParseLine(lines[0]);
  CHECK(std::string(first["event"].GetString()) == "audit.key");
  CHECK(std::string(first["fields"]["reason"].GetString()) == "new-file");
  CHECK(std::string(first["fields"]["fingerprint"].GetString()) == key.fingerprint);
  CHECK(std::string(first["kid"].GetString()) == "fp-" + key.fingerprint);
  for (const auto& l : lines) CHECK(ParseLine(l).HasMember("mac"));

  const VerifyReport ok = VerifyText(ReadAll(path), Keys({kKeyA}));
  INFO(ok.problem);
  CHECK(ok.ok);
  CHECK(ok.records == 5);
  CHECK(ok.keyedRecords == 5);
  CHECK(ok.unkeyedRecords == 0);

  const VerifyReport noKey = VerifyText(ReadAll(path));
  CHECK(noKey.status == VerifyStatus::KeyProblem);
  CHECK(noKey.badLine == 1);
  CHECK(noKey.problem.find("give the key") != std::string::npos);
}

TEST_CASE("Hardening: forge-append with the old unkeyed reseal method is detected under a key", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  WriteRecords(path, MakeChainKey(kKeyA), 4);
  auto lines = SplitLines(ReadAll(path));
  const std::string lastLink = LinkOf(lines.back());

  SECTION("an unkeyed record appended after the keyed ones (the old reseal, downgrade)") {
    rapidjson::Document forged = TestRecord(99);
    ChainPosition p{lines.size(), lastLink};
    lines.push_back(SealRecord(forged, p));
    const VerifyReport r = VerifyText(JoinLines(lines), Keys({kKeyA}));
    CHECK(r.status == VerifyStatus::Tampered);
    CHECK(r.badLine == 6);
    CHECK(r.problem.find("downgrade") != std::string::npos);
  }
  SECTION("a keyed-looking record sealed under a guessed key with the chain's kid") {
    rapidjson::Document forged = TestRecord(99);
    ChainPosition p{lines.size(), lastLink};
    const std::string kid = ParseLine(lines.back())["kid"].GetString();
    lines.push_back(SealKeyedRecord(forged, p, MakeChainKey("attacker-guess-0000000000000000000000000", kid)));
    const VerifyReport r = VerifyText(JoinLines(lines), Keys({kKeyA}));
    CHECK(r.status == VerifyStatus::Tampered);
    CHECK(r.badLine == 6);
    CHECK(r.problem.find("`mac` does not match") != std::string::npos);
  }
  SECTION("the whole file rewritten with the unkeyed method") {
    std::string text;
    ChainPosition p;
    for (int i = 0; i < 6; ++i) {
      rapidjson::Document d = TestRecord(i);
      text += SealRecord(d, p) + "\n";
    }
    const VerifyReport r = VerifyText(text, Keys({kKeyA}));
    CHECK(r.status == VerifyStatus::Unproven);  // not "intact": a key proves nothing about it
    CHECK_FALSE(r.ok);
  }
}

TEST_CASE("Hardening: erasing a middle record and resealing without the key is detected", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  WriteRecords(path, MakeChainKey(kKeyA), 6);
  auto lines = SplitLines(ReadAll(path));
  REQUIRE(lines.size() == 7);
  // Erase line 4 (seq 4) and renumber/relink what follows, as the unkeyed format allowed.
  lines.erase(lines.begin() + 3);
  const std::string kid = ParseLine(lines[1])["kid"].GetString();

  SECTION("resealed with the legacy SHA-256 method") {
    std::string prev = LinkOf(lines[2]);
    for (size_t i = 3; i < lines.size(); ++i) {
      auto doc = ParseLine(lines[i]);
      doc["seq"].SetUint64(i + 1);
      lines[i] = ResealUnkeyed(gw::json::Canonical(doc), prev);
      prev = LinkOf(lines[i]);
    }
    const VerifyReport r = VerifyText(JoinLines(lines), Keys({kKeyA}));
    CHECK(r.status == VerifyStatus::Tampered);
    CHECK(r.badLine == 4);
    CHECK(r.records == 3);
  }
  SECTION("resealed under a guessed key with the chain's kid") {
    std::string prev = LinkOf(lines[2]);
    for (size_t i = 3; i < lines.size(); ++i) {
      auto doc = ParseLine(lines[i]);
      doc["seq"].SetUint64(i + 1);
      lines[i] = ResealUnderGuessedKey(gw::json::Canonical(doc), prev, kid);
      prev = LinkOf(lines[i]);
    }
    const VerifyReport r = VerifyText(JoinLines(lines), Keys({kKeyA}));
    CHECK(r.status == VerifyStatus::Tampered);
    CHECK(r.badLine == 4);
    CHECK(r.problem.find("`mac` does not match") != std::string::npos);
  }
  SECTION("left as it is") {
    const VerifyReport r = VerifyText(JoinLines(lines), Keys({kKeyA}));
    CHECK(r.status == VerifyStatus::Tampered);
    CHECK(r.badLine == 4);
  }
  SECTION("a record edited in place") {
    lines = SplitLines(ReadAll(path));
    const size_t at = lines[2].find("record number 1");
    lines[2].replace(at, 15, "record number 7");
    const VerifyReport r = VerifyText(JoinLines(lines), Keys({kKeyA}));
    CHECK(r.status == VerifyStatus::Tampered);
    CHECK(r.badLine == 3);
  }
  SECTION("two records swapped") {
    lines = SplitLines(ReadAll(path));
    std::swap(lines[2], lines[3]);
    const VerifyReport r = VerifyText(JoinLines(lines), Keys({kKeyA}));
    CHECK(r.status == VerifyStatus::Tampered);
    CHECK(r.badLine == 3);
  }
}

TEST_CASE("Hardening: truncation at the end is detected against a checkpoint", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  const std::string cpFile = dir / "checkpoints.log";
  // Checkpoints: at open (after the key record), every 4 records, at Stop().
  const Written w = WriteRecords(path, MakeChainKey(kKeyA), 11, std::nullopt, 4, cpFile);
  REQUIRE(w.checkpoints.size() >= 2);
  const Checkpoint last = ParseOne(w.checkpoints.back());
  CHECK(last.seq == 12);  // the key record + 11
  CHECK(last.keyed);
  CHECK(last.link == w.position.hash);
  CHECK(last.file == path);
  // The checkpoint file holds the same checkpoints, one per line with the marker.
  auto fromFile = ReadCheckpointFile(cpFile);
  REQUIRE(fromFile.Ok());
  REQUIRE(fromFile.Value().size() == w.checkpoints.size());
  CHECK(fromFile.Value().back().link == last.link);

  auto lines = SplitLines(ReadAll(path));
  VerifyOptions options = Keys({kKeyA});
  options.checkpoints = fromFile.Value();
  const VerifyReport whole = VerifyText(JoinLines(lines), options);
  INFO(whole.problem);
  CHECK(whole.ok);
  CHECK(whole.checkpointsMatched == w.checkpoints.size());

  lines.resize(lines.size() - 3);  // cut the last 3 records: the rest is a valid, shorter chain
  const VerifyReport withoutCheckpoint = VerifyText(JoinLines(lines), Keys({kKeyA}));
  CHECK(withoutCheckpoint.ok);  // why checkpoints exist
  const VerifyReport r = VerifyText(JoinLines(lines), options);
  CHECK(r.status == VerifyStatus::Truncated);
  CHECK(r.badLine == 10);  // the first missing line
  CHECK(r.problem.find("3 record(s) were removed from the end") != std::string::npos);

  SECTION("a checkpoint given as seq:mac works the same") {
    auto arg = ParseCheckpointArgument(std::to_string(last.seq) + ":" + last.link);
    REQUIRE(arg.Ok());
    VerifyOptions o = Keys({kKeyA});
    o.checkpoints = {arg.Value()};
    CHECK(VerifyText(JoinLines(lines), o).status == VerifyStatus::Truncated);
  }
  SECTION("a record differing from its checkpoint is tampering") {
    auto all = SplitLines(ReadAll(path));
    Checkpoint wrong = last;
    wrong.link = std::string(64, 'a');
    VerifyOptions o = Keys({kKeyA});
    o.checkpoints = {wrong};
    const VerifyReport t = VerifyText(JoinLines(all), o);
    CHECK(t.status == VerifyStatus::Tampered);
    CHECK(t.badLine == 12);
  }
  SECTION("checkpoints of another chain are ignored, and counted") {
    Checkpoint other = last;
    other.chain = std::string(64, 'b');
    other.seq = 500;
    VerifyOptions o = Keys({kKeyA});
    o.checkpoints = {other};
    const VerifyReport t = VerifyText(ReadAll(path), o);
    CHECK(t.ok);
    CHECK(t.checkpointsOtherChain == 1);
  }
}

TEST_CASE("Hardening: checkpoints are emitted by count, by time and at shutdown, and found in log lines", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  std::mutex m;
  std::vector<std::string> seen;
  WriterOptions options;
  options.path = path;
  options.key = MakeChainKey(kKeyA);
  options.checkpointEvery = 0;  // by time only
  options.checkpointInterval = 100ms;
  options.onCheckpoint = [&](const std::string& c) {
    std::lock_guard<std::mutex> lock(m);
    seen.push_back(c);
  };
  auto w = AuditFileWriter::Open(options);
  REQUIRE(w.Ok());
  REQUIRE(w.Value()->Enqueue(TestRecord(1), 1s));
  REQUIRE(w.Value()->Flush(5s));
  CHECK(w.Value()->Checkpoints() >= 1);  // at open, after the key record
  for (int i = 0; i < 500 && w.Value()->Checkpoints() < 2; ++i) std::this_thread::sleep_for(20ms);
  CHECK(w.Value()->Checkpoints() == 2);  // the interval passed with one record not checkpointed
  std::this_thread::sleep_for(300ms);
  CHECK(w.Value()->Checkpoints() == 2);  // nothing new: no checkpoint
  w.Value()->Stop();
  CHECK(w.Value()->Checkpoints() == 3);  // shutdown
  // As Orthanc's log shows them (a prefix before the marker) they parse back.
  std::string log;
  for (const auto& c : seen) log += "W1205 20:00:00.000 PluginsManager.cpp:153] [dicomweb-oauth] " +
                                    std::string(kCheckpointMarker) + c + "\n";
  log += "I1205 20:00:00.000 other line\n";
  auto parsed = ParseCheckpoints(log, "orthanc.log");
  REQUIRE(parsed.Ok());
  REQUIRE(parsed.Value().size() == 3);
  CHECK(parsed.Value()[0].seq == 1);
  CHECK(parsed.Value()[2].seq == 2);
  CHECK(parsed.Value()[2].origin == "orthanc.log:3");
  // A checkpoint line that is not valid JSON is an error naming the line, not skipped silently.
  auto bad = ParseCheckpoints("x\n" + std::string(kCheckpointMarker) + "{\"seq\":", "orthanc.log");
  REQUIRE_FALSE(bad.Ok());
  CHECK(bad.GetError().code == "AUD-015");
  CHECK(bad.GetError().message.find("orthanc.log:2") != std::string::npos);
}

TEST_CASE("Hardening: a chain rotated across two keys verifies", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  const ChainKey a = MakeChainKey(kKeyA);
  const ChainKey b = MakeChainKey(kKeyB);
  WriteRecords(path, a, 3);
  WriteRecords(path, b, 3, kKeyA);
  const auto lines = SplitLines(ReadAll(path));
  REQUIRE(lines.size() == 8);
  auto rotation = ParseLine(lines[4]);
  CHECK(std::string(rotation["event"].GetString()) == "audit.key");
  CHECK(std::string(rotation["fields"]["reason"].GetString()) == "rotation");
  CHECK(std::string(rotation["fields"]["previousKid"].GetString()) == a.id);
  CHECK(std::string(rotation["kid"].GetString()) == b.id);
  CHECK(rotation.HasMember("closingMac"));

  const VerifyReport r = VerifyText(ReadAll(path), Keys({kKeyB, kKeyA}));
  INFO(r.problem);
  REQUIRE(r.ok);
  REQUIRE(r.keys.size() == 2);
  CHECK(r.keys[0].kid == a.id);
  CHECK(r.keys[0].firstSeq == 1);
  CHECK(r.keys[0].lastSeq == 4);
  CHECK(r.keys[1].kid == b.id);
  CHECK(r.keys[1].reason == "rotation");
  CHECK(r.keys[1].lastSeq == 8);

  SECTION("only the new key: the old segment cannot be checked") {
    const VerifyReport k = VerifyText(ReadAll(path), Keys({kKeyB}));
    CHECK(k.status == VerifyStatus::KeyProblem);
    CHECK(k.badLine == 1);
  }
  SECTION("a forged rotation: whoever holds only the new key cannot make the closing MAC") {
    auto doc = ParseLine(lines[4]);
    auto& al = doc.GetAllocator();
    doc["closingMac"].SetString(std::string(64, 'c').c_str(), al);
    doc.RemoveMember("mac");
    const std::string mac = ChainMac(b, doc["prev"].GetString(), gw::json::Canonical(doc));
    doc.AddMember("mac", rapidjson::Value(mac.c_str(), al), al);
    auto forged = lines;
    forged[4] = gw::json::Canonical(doc);
    const VerifyReport f = VerifyText(JoinLines(forged), Keys({kKeyA, kKeyB}));
    CHECK(f.status == VerifyStatus::Tampered);
    CHECK(f.badLine == 5);
    CHECK(f.problem.find("closingMac") != std::string::npos);
  }
  SECTION("the writer refuses a rotation without the previous key (AUD-009)") {
    WriterOptions options;
    options.path = path;
    options.key = MakeChainKey(kKeyA + "-third-key");
    auto w = AuditFileWriter::Open(options);
    REQUIRE_FALSE(w.Ok());
    CHECK(w.GetError().code == "AUD-009");
    CHECK(w.GetError().message.find("PreviousChainKey") != std::string::npos);
    CHECK(ReadAll(path) == JoinLines(lines));
  }
  SECTION("the writer refuses a wrong previous key (AUD-009)") {
    WriterOptions options;
    options.path = path;
    options.key = MakeChainKey(kKeyA + "-third-key");
    options.previousKeySecret = kKeyA;  // the chain is now under B
    auto w = AuditFileWriter::Open(options);
    REQUIRE_FALSE(w.Ok());
    CHECK(w.GetError().code == "AUD-009");
  }
}

TEST_CASE("Hardening: a legacy unkeyed file still verifies, marked unkeyed, and continues keyed", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  WriteAll(path, MakeChain(5));
  const VerifyReport legacy = VerifyFile(path);
  INFO(legacy.problem);
  REQUIRE(legacy.ok);
  CHECK(legacy.unkeyedRecords == 5);
  CHECK(legacy.keyedRecords == 0);
  CHECK(VerifyFile(path, Keys({kKeyA})).status == VerifyStatus::Unproven);

  WriteRecords(path, MakeChainKey(kKeyA), 2);
  const auto lines = SplitLines(ReadAll(path));
  REQUIRE(lines.size() == 8);
  auto upgrade = ParseLine(lines[5]);
  CHECK(std::string(upgrade["fields"]["reason"].GetString()) == "upgrade");
  CHECK(upgrade["fields"]["unkeyedRecords"].GetUint64() == 5);
  const VerifyReport mixed = VerifyFile(path, Keys({kKeyA}));
  INFO(mixed.problem);
  REQUIRE(mixed.ok);
  CHECK(mixed.unkeyedRecords == 5);
  CHECK(mixed.keyedRecords == 3);

  SECTION("the writer never continues a keyed file without its key (AUD-009)") {
    WriterOptions options;
    options.path = path;
    auto w = AuditFileWriter::Open(options);
    REQUIRE_FALSE(w.Ok());
    CHECK(w.GetError().code == "AUD-009");
  }
}

TEST_CASE("Hardening: a wrong key is reported as a key problem, not as intact", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  WriteRecords(path, MakeChainKey(kKeyA), 3);
  const VerifyReport r = VerifyFile(path, Keys({kKeyB}));
  CHECK(r.status == VerifyStatus::KeyProblem);
  CHECK(r.badLine == 1);
  CHECK(r.problem.find("wrong key") != std::string::npos);
  CHECK(r.problem.find(MakeChainKey(kKeyB).fingerprint) != std::string::npos);

  SECTION("the writer refuses to continue under a changed key with the same key id (AUD-009)") {
    WriterOptions options;
    options.path = path;
    const std::string kid = ParseLine(SplitLines(ReadAll(path)).back())["kid"].GetString();
    options.key = MakeChainKey(kKeyB, kid);
    auto w = AuditFileWriter::Open(options);
    REQUIRE_FALSE(w.Ok());
    CHECK(w.GetError().code == "AUD-009");
    CHECK(w.GetError().message.find("does not verify under Audit.ChainKey") != std::string::npos);
  }
}

TEST_CASE("Hardening: the chain key never appears in the file, the checkpoints or the log", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  const std::string cpFile = dir / "cp.log";
  gw::lua::test::ScopedSink sink;
  Written w = WriteRecords(path, MakeChainKey(kKeyA), 3, std::nullopt, 2, cpFile);
  w = WriteRecords(path, MakeChainKey(kKeyB, "second"), 3, kKeyA, 2, cpFile);
  // A refusal's message must not carry it either.
  WriterOptions refused;
  refused.path = path;
  refused.key = MakeChainKey(kKeyA, "second");
  auto r = AuditFileWriter::Open(refused);
  REQUIRE_FALSE(r.Ok());
  std::string everything = ReadAll(path) + ReadAll(cpFile) + r.GetError().ToString();
  for (const auto& c : w.checkpoints) everything += c;
  for (const auto& l : sink->Lines()) everything += l + "\n";
  for (const std::string& secret : {kKeyA, kKeyB}) {
    CHECK(everything.find(secret) == std::string::npos);
    CHECK(everything.find(secret.substr(0, 16)) == std::string::npos);
    CHECK(everything.find(gw::crypto::HexEncode(secret)) == std::string::npos);
  }
  CHECK(everything.find("audit.key") != std::string::npos);  // the scan looked at real content
}
