// dicomweb-oauth audit verify FILE
//
// Checks the hash chain of an audit file written by the gateway (docs/audit.md): every line a
// canonical record whose `hash` matches its content, each `prev` the previous line's `hash`
// (the genesis value for the first), `seq` increasing by one, the file ending with a newline.
// Reads the file as it is, in constant memory; never writes it.
#include <string>
#include <vector>

#include "Commands.h"
#include "gw/audit/AuditVerifier.h"

namespace gw::cli {

int RunAuditVerify(const std::vector<std::string>& args, Io io) {
  if (args.size() != 1 || args[0].empty() || args[0][0] == '-') {
    io.err << "usage: dicomweb-oauth audit verify FILE\n";
    return kExitUsage;
  }
  const std::string& path = args[0];
  const audit::VerifyReport report = audit::VerifyFile(path);
  if (!report.ok) {
    if (report.badLine == 0) {
      io.out << "error AUD-008 " << path << ": " << report.problem << "\n";
    } else {
      io.out << "error AUD-008 " << path << ":" << report.badLine << ": " << report.problem << "\n";
      io.out << "audit file NOT intact: " << report.records << " record(s) verified before line " << report.badLine;
      if (report.records > 0) io.out << " (seq " << report.firstSeq << ".." << report.lastSeq << ")";
      io.out << "\n";
    }
    return kExitFailure;
  }
  io.out << "audit file intact: " << report.records << " record(s)";
  if (report.records > 0) {
    io.out << ", seq " << report.firstSeq << ".." << report.lastSeq << ", " << report.firstTime << " .. "
           << report.lastTime << "\nlast hash " << report.lastHash;
  }
  io.out << "\n";
  return kExitOk;
}

}  // namespace gw::cli
