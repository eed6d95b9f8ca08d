// AuditFileWriter against real files: permissions, chain continuation across restarts, refusal of
// a damaged or locked file, and many producers at once.

#include <atomic>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "AuditTestSupport.h"
#include "gw/audit/AuditFileWriter.h"
#include "gw/audit/AuditVerifier.h"

using namespace gw::audit;
using namespace gw::audit::test;
using namespace std::chrono_literals;

namespace {

rapidjson::Document Record(const std::string& note) {
  rapidjson::Document d;
  d.SetObject();
  auto& a = d.GetAllocator();
  d.AddMember("event", "test.event", a);
  d.AddMember("time", "2026-11-22T17:00:00.000Z", a);
  rapidjson::Value fields(rapidjson::kObjectType);
  fields.AddMember("note", rapidjson::Value(note.c_str(), a), a);
  d.AddMember("fields", fields, a);
  return d;
}

std::unique_ptr<AuditFileWriter> OpenWriter(const std::string& path, size_t capacity = 1000) {
  WriterOptions options;
  options.path = path;
  options.queueCapacity = capacity;
  options.fsyncInterval = 0ms;
  options.retryInterval = 50ms;
  auto w = AuditFileWriter::Open(options);
  INFO((w.Ok() ? "" : w.GetError().ToString()));
  REQUIRE(w.Ok());
  return std::move(w).Value();
}

}  // namespace

TEST_CASE("AuditFileWriter/creates a 0600 file and writes a verifiable chain", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  auto w = OpenWriter(path);
  CHECK(ModeOf(path) == 0600);
  for (int i = 0; i < 10; ++i) REQUIRE(w->Enqueue(Record("n" + std::to_string(i)), 1s));
  REQUIRE(w->Flush(5s));
  CHECK(w->Position().seq == 10);
  const VerifyReport r = VerifyFile(path);
  INFO(r.problem);
  CHECK(r.ok);
  CHECK(r.records == 10);
  CHECK(r.lastHash == w->Position().hash);
  const auto lines = SplitLines(ReadAll(path));
  CHECK(std::string(ParseLine(lines[3])["fields"]["note"].GetString()) == "n3");  // queue order = file order
}

TEST_CASE("AuditFileWriter/the chain continues across restarts", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  {
    auto w = OpenWriter(path);
    for (int i = 0; i < 3; ++i) REQUIRE(w->Enqueue(Record("first run"), 1s));
    w->Stop();
  }
  {
    auto w = OpenWriter(path);
    CHECK(w->Position().seq == 3);
    for (int i = 0; i < 2; ++i) REQUIRE(w->Enqueue(Record("second run"), 1s));
    REQUIRE(w->Flush(5s));
  }
  const VerifyReport r = VerifyFile(path);
  INFO(r.problem);
  CHECK(r.ok);
  CHECK(r.lastSeq == 5);
}

TEST_CASE("AuditFileWriter/an existing file readable by others is narrowed to 0600", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  WriteAll(path, MakeChain(2));
  ::chmod(path.c_str(), 0644);
  auto w = OpenWriter(path);
  CHECK(ModeOf(path) == 0600);
  CHECK(w->Position().seq == 2);
}

TEST_CASE("AuditFileWriter/refuses a file whose last line is damaged (AUD-003)", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  WriterOptions options;
  options.path = path;
  SECTION("incomplete last line") {
    std::string text = MakeChain(3);
    text.resize(text.size() - 10);
    WriteAll(path, text);
  }
  SECTION("edited last line") {
    std::string text = MakeChain(3);
    text[text.size() - 30] = text[text.size() - 30] == '1' ? '2' : '1';
    WriteAll(path, text);
  }
  SECTION("not a record at all") {
    WriteAll(path, "hello\n");
  }
  const std::string before = ReadAll(path);
  auto w = AuditFileWriter::Open(options);
  REQUIRE_FALSE(w.Ok());
  CHECK(w.GetError().code == "AUD-003");
  CHECK(w.GetError().message.find("audit verify") != std::string::npos);
  CHECK(ReadAll(path) == before);  // nothing appended
}

TEST_CASE("AuditFileWriter/a second writer on the same file is refused (AUD-002)", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  auto first = OpenWriter(path);
  WriterOptions options;
  options.path = path;
  auto second = AuditFileWriter::Open(options);
  REQUIRE_FALSE(second.Ok());
  CHECK(second.GetError().code == "AUD-002");
  first->Stop();
  CHECK(AuditFileWriter::Open(options).Ok());  // the lock went with the first writer
}

TEST_CASE("AuditFileWriter/a file that cannot be created is AUD-001", "[audit]") {
  WriterOptions options;
  options.path = "/nonexistent-folder-gw/audit.jsonl";
  auto w = AuditFileWriter::Open(options);
  REQUIRE_FALSE(w.Ok());
  CHECK(w.GetError().code == "AUD-001");
}

TEST_CASE("AuditFileWriter/many producers: every record once, no interleaved line", "[audit]") {
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  auto w = OpenWriter(path, 64);  // a small queue, so producers also wait for room
  constexpr int kThreads = 8;
  constexpr int kEach = 500;
  std::vector<std::thread> threads;
  std::atomic<int> refused{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (!w->Enqueue(Record(std::to_string(t) + ":" + std::to_string(i) + std::string(200, 'x')), 10s)) ++refused;
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(w->Flush(30s));
  CHECK(refused == 0);
  const VerifyReport r = VerifyFile(path);
  INFO(r.problem);
  REQUIRE(r.ok);
  CHECK(r.records == kThreads * kEach);
  std::set<std::string> seen;
  for (const auto& line : SplitLines(ReadAll(path))) {
    std::string note = ParseLine(line)["fields"]["note"].GetString();
    seen.insert(note.substr(0, note.find('x')));
  }
  CHECK(seen.size() == static_cast<size_t>(kThreads * kEach));
}

TEST_CASE("AuditFileWriter/a failing write keeps the records and the chain intact", "[audit]") {
  // A real write failure: RLIMIT_FSIZE makes write(2) fail with EFBIG (SIGXFSZ ignored).
  TempDir dir;
  const std::string path = dir / "audit.jsonl";
  std::atomic<int> errors{0};
  std::atomic<int> recoveries{0};
  WriterOptions options;
  options.path = path;
  options.fsyncInterval = 0ms;
  options.retryInterval = 20ms;
  options.onWriteError = [&](const gw::Error& e) {
    if (e.code == "AUD-004") ++errors;
  };
  options.onRecovered = [&] { ++recoveries; };
  auto opened = AuditFileWriter::Open(options);
  REQUIRE(opened.Ok());
  auto& w = *opened.Value();
  REQUIRE(w.Enqueue(Record("before"), 1s));
  REQUIRE(w.Flush(5s));
  const uint64_t size = ReadAll(path).size();

  FileSizeLimit limit(size + 100);  // room for a partial line only

  REQUIRE(w.Enqueue(Record(std::string(300, 'y')), 1s));
  for (int i = 0; i < 200 && errors == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(errors > 0);
  CHECK_FALSE(w.Healthy());
  CHECK(ReadAll(path).size() == size);  // the partial line was cut back

  limit.Lift();
  REQUIRE(w.Flush(5s));
  CHECK(w.Healthy());
  // onRecovered runs on the writer thread just after it wakes Flush(): give it a moment.
  for (int i = 0; i < 200 && recoveries == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(recoveries == 1);
  const VerifyReport r = VerifyFile(path);
  INFO(r.problem);
  CHECK(r.ok);
  CHECK(r.records == 2);
}
