// dicomweb-oauth audit verify FILE [--key REF]... [--key-file PATH]... [--checkpoint SEQ:MAC]...
//                                  [--checkpoints FILE]...
//
// Checks the chain of an audit file written by the gateway (docs/audit.md): every line a canonical
// record whose link matches its content (the keyed MAC under the given keys, or the legacy unkeyed
// SHA-256, reported as such), each `prev` the previous line's link, `seq` +1 per line, key changes
// only through audit.key records, the file ending with a newline, and every record a checkpoint
// names equal to it, none missing at the end. Reads the files as they are, in constant memory;
// never writes them. The key never appears in the output (it is registered as a secret first).
#include <memory>
#include <string>
#include <vector>

#include "Commands.h"
#include "gw/audit/AuditVerifier.h"
#include "gw/common/SecretRegistry.h"
#include "gw/config/SecretReferences.h"
#include "gw/http/CurlHttpClient.h"
#include "gw/service/KeyVaultResolver.h"

namespace gw::cli {
namespace {

constexpr int kExitKey = 3;
constexpr int kExitTruncated = 4;
constexpr int kExitUnproven = 5;

const char* const kUsage =
    "usage: dicomweb-oauth audit verify FILE [--key REF]... [--key-file PATH]... [--checkpoint SEQ:MAC]... "
    "[--checkpoints FILE]...\n";

int Usage(Io io, const std::string& why) {
  if (!why.empty()) io.err << "dicomweb-oauth audit verify: " << why << "\n";
  io.err << kUsage;
  return kExitUsage;
}

// The key behind a reference; never echoes the value.
Result<std::string> ResolveKey(const std::string& reference) {
  if (reference.rfind("literal:", 0) == 0) {
    return MakeError("CFG-007", "--key literal:... would put the key in the process list and the shell history: "
                                "use --key env:NAME, --key file:PATH or --key-file PATH");
  }
  config::SecretReferenceOptions options;
  options.resolvers["keyvault"] = service::MakeKeyVaultResolver(std::make_shared<http::CurlHttpClient>());
  return config::ResolveSecretReference(reference, options);
}

const char* CodeOf(audit::VerifyStatus status) {
  switch (status) {
    case audit::VerifyStatus::KeyProblem: return "AUD-012";
    case audit::VerifyStatus::Truncated: return "AUD-013";
    case audit::VerifyStatus::Unproven: return "AUD-014";
    default: return "AUD-008";
  }
}

int ExitOf(audit::VerifyStatus status) {
  switch (status) {
    case audit::VerifyStatus::Intact: return kExitOk;
    case audit::VerifyStatus::KeyProblem: return kExitKey;
    case audit::VerifyStatus::Truncated: return kExitTruncated;
    case audit::VerifyStatus::Unproven: return kExitUnproven;
    default: return kExitFailure;
  }
}

void PrintKeys(const audit::VerifyReport& r, Io io) {
  if (r.unkeyedRecords > 0) {
    io.out << "UNKEYED: seq " << r.firstSeq << ".." << (r.firstSeq + r.unkeyedRecords - 1)
           << " use the legacy unkeyed SHA-256 chain: anyone able to write the file could have rewritten, erased "
              "or resealed them\n";
  }
  for (const audit::KeySegment& k : r.keys) {
    io.out << "keyed: seq " << k.firstSeq << ".." << k.lastSeq << " under key id " << k.kid << " (fingerprint "
           << k.fingerprint << ", " << k.reason << (k.reason == "rotation" ? ", closed by the previous key" : "")
           << ")\n";
  }
}

}  // namespace

int RunAuditVerify(const std::vector<std::string>& args, Io io) {
  std::string path;
  audit::VerifyOptions options;
  std::vector<std::string> checkpointSources;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool hasValue = i + 1 < args.size();
    if (a == "--key" || a == "--key-file") {
      if (!hasValue) return Usage(io, a + " needs a value");
      const std::string reference = a == "--key" ? args[++i] : "file:" + args[++i];
      auto key = ResolveKey(reference);
      if (!key.Ok()) {
        io.out << "error " << key.GetError().code << " " << a << ": " << SecretRegistry::Redact(key.GetError().message)
               << "\n";
        return kExitUsage;
      }
      SecretRegistry::Add(key.Value());
      options.keys.push_back(audit::MakeChainKey(key.Value()));
    } else if (a == "--checkpoint") {
      if (!hasValue) return Usage(io, a + " needs a value");
      auto c = audit::ParseCheckpointArgument(args[++i]);
      if (!c.Ok()) {
        io.out << "error " << c.GetError().code << " " << c.GetError().message << "\n";
        return kExitUsage;
      }
      options.checkpoints.push_back(std::move(c).Value());
    } else if (a == "--checkpoints") {
      if (!hasValue) return Usage(io, a + " needs a value");
      checkpointSources.push_back(args[++i]);
    } else if (!a.empty() && a[0] == '-') {
      return Usage(io, "unknown option '" + a + "'");
    } else if (path.empty() && !a.empty()) {
      path = a;
    } else {
      return Usage(io, a.empty() ? "empty FILE" : "one FILE only");
    }
  }
  if (path.empty()) return Usage(io, "");
  for (const std::string& source : checkpointSources) {
    auto found = audit::ReadCheckpointFile(source);
    if (!found.Ok()) {
      io.out << "error " << found.GetError().code << " " << found.GetError().message << "\n";
      return kExitUsage;
    }
    if (found.Value().empty()) {
      io.err << "warning: no checkpoint found in " << source << "\n";
    }
    for (auto& c : found.Value()) options.checkpoints.push_back(std::move(c));
  }

  const audit::VerifyReport report = audit::VerifyFile(path, options);
  if (!report.ok) {
    const char* code = CodeOf(report.status);
    if (report.badLine == 0) {
      io.out << "error " << code << " " << path << ": " << report.problem << "\n";
    } else {
      io.out << "error " << code << " " << path << ":" << report.badLine << ": " << report.problem << "\n";
    }
    if (report.status != audit::VerifyStatus::Unreadable) {
      io.out << (report.status == audit::VerifyStatus::Tampered ? "audit file NOT intact: " : "audit file NOT verified: ")
             << report.records << " record(s) verified";
      if (report.badLine > 0) io.out << " before line " << report.badLine;
      if (report.records > 0) io.out << " (seq " << report.firstSeq << ".." << report.lastSeq << ")";
      io.out << "\n";
      PrintKeys(report, io);
    }
    return ExitOf(report.status);
  }
  io.out << "audit file intact: " << report.records << " record(s)";
  if (report.records > 0) {
    io.out << ", seq " << report.firstSeq << ".." << report.lastSeq << ", " << report.firstTime << " .. "
           << report.lastTime;
  }
  io.out << "\n";
  PrintKeys(report, io);
  if (!options.checkpoints.empty()) {
    io.out << "checkpoints: " << report.checkpointsMatched << " matched";
    if (report.checkpointsMatched > 0) io.out << " (highest seq " << report.lastCheckpointSeq << ")";
    if (report.checkpointsOtherChain > 0) io.out << ", " << report.checkpointsOtherChain << " of other chains ignored";
    io.out << "\n";
  } else if (report.records > 0) {
    io.out << "no checkpoint given: records removed from the end of the file cannot be detected "
              "(--checkpoints ORTHANC_LOG or the Audit.CheckpointFile)\n";
  }
  if (report.records > 0) {
    io.out << (report.keys.empty() ? "last hash " : "last mac ") << report.lastHash;
    if (!report.keys.empty()) io.out << " (key id " << report.keys.back().kid << ")";
    io.out << "\n";
  }
  return kExitOk;
}

}  // namespace gw::cli
