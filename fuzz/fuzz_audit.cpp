// Audit file verification (`dicomweb-oauth audit verify`): the file is evidence, and whoever could
// write it may have shaped it to trip the verifier. VerifyText over the whole input (with a chain key
// and a checkpoint, or without, chosen by the first byte), CheckLine over each line, and the
// checkpoint file parser over the same text.
// Checked: no crash; ok exactly when Intact; a failed verification names its line and problem.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzSupport.h"
#include "gw/audit/AuditChain.h"
#include "gw/audit/AuditCheckpoint.h"
#include "gw/audit/AuditVerifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  gw::audit::VerifyOptions options;
  // The keys of the keyed corpus files (copies of tests/fixtures/audit: keyed-key-a.txt, -b.txt).
  if (flags & 1) options.keys.push_back(gw::audit::MakeChainKey("cli-fixture-chain-key-a-5e1b7c94d2f03a68b7"));
  if (flags & 2) options.keys.push_back(gw::audit::MakeChainKey("cli-fixture-chain-key-b-93c0d4e71a2b5f8c06"));
  if (flags & 4) {
    auto cp = gw::audit::ParseCheckpointArgument("2:" + std::string(64, 'a'));
    if (cp.Ok()) options.checkpoints.push_back(cp.Value());
  }
  auto report = gw::audit::VerifyText(text, options);
  GW_FUZZ_CHECK(report.ok == (report.status == gw::audit::VerifyStatus::Intact), "ok differs from Intact");
  if (!report.ok) GW_FUZZ_CHECK(!report.problem.empty(), "a failed verification without a problem");
  GW_FUZZ_CHECK(report.records <= size, "more records than bytes");

  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    auto line = gw::audit::CheckLine(text.substr(start, end - start));
    if (line.Ok() && !options.keys.empty()) gw::audit::MacMatches(line.Value(), options.keys[0]);
    start = end + 1;
  }
  gw::audit::ParseCheckpoints(text, "fuzz");
  gw::audit::ParseCheckpointArgument(text);
  return 0;
}
