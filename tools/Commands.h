#pragma once
// The `dicomweb-oauth` operator CLI: one function per subcommand, listed in one table
// (CommandTable.cpp). Adding a subcommand (`token`, `sign`, `audit verify`) means writing one
// Run... function and adding one row.
//
// Exit codes shared by every command: 0 success, 1 the checked thing is invalid or the operation
// failed, 2 usage error (unknown command or option, missing argument).
#include <ostream>
#include <string>
#include <vector>

namespace gw::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitDenied = 3;  // policy evaluate: the chain denies the request described

struct Io {
  std::ostream& out;  // results
  std::ostream& err;  // usage errors and logs
};

// `args` are the words after the command name.
using CommandFn = int (*)(const std::vector<std::string>& args, Io io);

struct Command {
  const char* name;     // one or more words: "check-config", "audit verify"
  const char* usage;    // arguments after the name
  const char* summary;  // one line
  const char* details;  // shown by `help <command>`; may be empty
  CommandFn run;
};

const std::vector<Command>& Commands();

// Finds the command named by the leading words of `words` (longest match first), runs it, and
// turns any escaping exception into exit code 1. Never throws.
int Dispatch(const std::vector<std::string>& words, Io io);

int RunHelp(const std::vector<std::string>& args, Io io);
int RunVersion(const std::vector<std::string>& args, Io io);
int RunCheckConfig(const std::vector<std::string>& args, Io io);
int RunToken(const std::vector<std::string>& args, Io io);
int RunSign(const std::vector<std::string>& args, Io io);
int RunAuditVerify(const std::vector<std::string>& args, Io io);
int RunScriptsDryRun(const std::vector<std::string>& args, Io io);
int RunPolicyEvaluate(const std::vector<std::string>& args, Io io);

}  // namespace gw::cli
