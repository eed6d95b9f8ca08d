// The audit file format on its own (AuditChain, AuditVerifier): a chain of sealed records
// verifies, and each kind of tampering is found at the line where it happened.
#include <catch2/catch.hpp>

#include "AuditTestSupport.h"
#include "gw/audit/AuditVerifier.h"

using namespace gw::audit;
using namespace gw::audit::test;

TEST_CASE("AuditChain/an intact chain verifies", "[audit]") {
  const std::string text = MakeChain(5);
  const VerifyReport r = VerifyText(text);
  INFO(r.problem);
  REQUIRE(r.ok);
  CHECK(r.records == 5);
  CHECK(r.firstSeq == 1);
  CHECK(r.lastSeq == 5);
  const auto lines = SplitLines(text);
  CHECK(r.lastHash == ParseLine(lines.back())["hash"].GetString());
  CHECK(std::string(ParseLine(lines.front())["prev"].GetString()) == kGenesisHash);
  CHECK(VerifyText("").ok);  // a new, empty file
}

TEST_CASE("AuditChain/records are canonical: members sorted, compact", "[audit]") {
  const auto line = SplitLines(MakeChain(1)).front();
  CHECK(line.rfind("{\"event\":\"test.event\",\"fields\":{\"i\":0,", 0) == 0);
  CHECK(line.find(' ') == line.find("record number") + 6);  // the only space is inside a value
  auto checked = CheckLine(line);
  REQUIRE(checked.Ok());
  CHECK(checked.Value().position.seq == 1);
}

TEST_CASE("AuditChain/tampering is detected at the line where it happened", "[audit]") {
  auto lines = SplitLines(MakeChain(6));
  REQUIRE(lines.size() == 6);

  SECTION("a value edited in the middle") {
    const size_t at = lines[2].find("record number 2");
    lines[2].replace(at, 15, "record number 9");
    const VerifyReport r = VerifyText(JoinLines(lines));
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 3);
    CHECK(r.problem.find("edited") != std::string::npos);
    CHECK(r.records == 2);
  }
  SECTION("the last line edited (its own hash covers it)") {
    lines[5].replace(lines[5].find("\"pacs\""), 6, "\"evil\"");
    const VerifyReport r = VerifyText(JoinLines(lines));
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 6);
  }
  SECTION("an edited line whose hash was recomputed breaks the next line's prev") {
    auto doc = ParseLine(lines[2]);
    doc["fields"]["i"].SetInt(42);
    doc.RemoveMember("hash");
    ChainPosition before{2, doc["prev"].GetString()};
    doc.RemoveMember("seq");
    doc.RemoveMember("prev");
    lines[2] = SealRecord(doc, before);
    const VerifyReport r = VerifyText(JoinLines(lines));
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 4);
    CHECK(r.problem.find("does not match the link of line 3") != std::string::npos);
  }
  SECTION("a line inserted (a copy of another)") {
    lines.insert(lines.begin() + 3, lines[1]);
    const VerifyReport r = VerifyText(JoinLines(lines));
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 4);
  }
  SECTION("a line inserted that chains correctly to its predecessor breaks the next one") {
    // A well-formed record sealed after line 3 (seq 4): line 4 of the original then no longer fits.
    const ChainPosition afterLine3{3, ParseLine(lines[2])["hash"].GetString()};
    std::string forged = MakeChain(1, afterLine3);
    forged.pop_back();
    lines.insert(lines.begin() + 3, forged);
    const VerifyReport r = VerifyText(JoinLines(lines));
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 5);
  }
  SECTION("a line deleted in the middle") {
    lines.erase(lines.begin() + 2);
    const VerifyReport r = VerifyText(JoinLines(lines));
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 3);
    CHECK(r.problem.find("inserted, deleted or moved") != std::string::npos);
  }
  SECTION("the first line deleted") {
    lines.erase(lines.begin());
    const VerifyReport r = VerifyText(JoinLines(lines));
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 1);
    CHECK(r.problem.find("genesis") != std::string::npos);
  }
  SECTION("two lines swapped") {
    std::swap(lines[3], lines[4]);
    const VerifyReport r = VerifyText(JoinLines(lines));
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 4);
  }
  SECTION("the last line truncated") {
    std::string text = JoinLines(lines);
    text.resize(text.size() - 20);
    const VerifyReport r = VerifyText(text);
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 6);
    CHECK(r.problem.find("incomplete") != std::string::npos);
    CHECK(r.records == 5);
  }
  SECTION("only the final newline missing") {
    std::string text = JoinLines(lines);
    text.pop_back();
    const VerifyReport r = VerifyText(text);
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 6);
  }
  SECTION("whitespace added (same JSON, other bytes)") {
    lines[1].insert(1, " ");
    const VerifyReport r = VerifyText(JoinLines(lines));
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 2);
    CHECK(r.problem.find("canonical") != std::string::npos);
  }
  SECTION("an empty line inserted") {
    lines.insert(lines.begin() + 1, "");
    const VerifyReport r = VerifyText(JoinLines(lines));
    CHECK_FALSE(r.ok);
    CHECK(r.badLine == 2);
  }
}

TEST_CASE("AuditChain/VerifyFile reads files, and reports unreadable ones", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  WriteAll(path, MakeChain(3));
  CHECK(VerifyFile(path).ok);
  CHECK(VerifyFile(path).records == 3);
  std::string text = ReadAll(path);
  text[text.size() / 2] = text[text.size() / 2] == 'a' ? 'b' : 'a';
  WriteAll(path, text);
  CHECK_FALSE(VerifyFile(path).ok);
  const VerifyReport missing = VerifyFile(dir / "nope.jsonl");
  CHECK_FALSE(missing.ok);
  CHECK(missing.badLine == 0);
  CHECK(missing.problem.find("cannot open") != std::string::npos);
}

TEST_CASE("Hardening: an endless line in an audit file is refused without being held whole", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  // Two good records, then 3 MiB without a newline, then a newline and a good-looking tail.
  std::string text = MakeChain(2);
  text += "{\"x\":\"" + std::string(3 << 20, 'a') + "\"}\n";
  WriteAll(path, text);
  const VerifyReport r = VerifyFile(path);
  CHECK(r.status == VerifyStatus::Tampered);
  CHECK(r.badLine == 3);
  CHECK(r.records == 2);
  CHECK(r.problem.find("longer than 1 MiB") != std::string::npos);
  // The same file cut inside the long line (no newline at all at the end).
  WriteAll(path, text.substr(0, text.size() - 1000));
  CHECK(VerifyFile(path).badLine == 3);
  CHECK(VerifyText(text).badLine == 3);
  // Lines split across the reader's blocks still verify.
  const std::string many = MakeChain(400);
  WriteAll(path, many);
  const VerifyReport ok = VerifyFile(path);
  INFO(ok.problem);
  CHECK(ok.ok);
  CHECK(ok.records == 400);
}
