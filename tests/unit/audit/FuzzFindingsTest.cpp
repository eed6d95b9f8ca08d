// Defects found by the fuzz targets (fuzz/, docs/testing.md "Fuzzing") as the audit file sees them.
#include <catch2/catch.hpp>

#include "AuditTestSupport.h"
#include "gw/audit/AuditVerifier.h"

using namespace gw::audit;
using namespace gw::audit::test;

TEST_CASE("Fuzz finding: an audit record holding a double verifies (it was called not canonical)", "[audit][fuzz]") {
  // An audit rule may put any number into `fields`; the writer writes its shortest exact form, and
  // the verifier used to read some of them back one unit off (fuzz/fuzz_json found it).
  ChainPosition position;
  std::string text;
  for (double value : {330.45126075821039, 0.1 + 0.2, 1e-7, 12.5}) {
    rapidjson::Document record = TestRecord(1);
    record["fields"].AddMember("latency_s", value, record.GetAllocator());
    text += SealRecord(record, position) + "\n";
  }
  for (const auto& line : SplitLines(text)) {
    auto checked = CheckLine(line);
    INFO(line);
    CHECK(checked.Ok());
  }
  const VerifyReport report = VerifyText(text);
  INFO(report.problem);
  CHECK(report.ok);
  CHECK(report.records == 4);
}
