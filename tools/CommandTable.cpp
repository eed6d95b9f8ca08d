#include <algorithm>
#include <exception>
#include <sstream>

#include "Commands.h"
#include "gw/common/SecretRegistry.h"

namespace gw::cli {
namespace {

std::vector<std::string> Words(const char* name) {
  std::vector<std::string> out;
  std::istringstream in(name);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = {
      {"help", "[COMMAND]", "show the commands, or the details of one", "", RunHelp},
      {"version", "", "print the version", "", RunVersion},
      {"check-config", "PATH [--scripts-dir DIR]...",
       "validate an Orthanc configuration (file or folder) the way the plugin will read it",
       "Reads PATH like Orthanc does (one file, or every *.json file of a folder merged at top level),\n"
       "substitutes ${VAR} from this environment like Orthanc, and validates the DicomWebOAuth section\n"
       "with the plugin's own parser. Then compiles and checks every Lua script of the configured\n"
       "ScriptDirectories and verifies that each server's provider script is among them.\n"
       "Each problem is printed on its own line: <error|warning> <CODE> <json.path>: <message>.\n"
       "\n"
       "  --scripts-dir DIR   check these script folders instead of ScriptDirectories (repeatable)\n"
       "\n"
       "Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage error.\n"
       "Run it with the same environment variables as Orthanc: an unset ${VAR} becomes \"\".",
       RunCheckConfig},
      {"token", "--config PATH --server NAME [--show-token] [--scripts-dir DIR]...",
       "acquire one token for a configured server, the way the plugin does, and print its metadata",
       "Reads and validates PATH like check-config, starts the gateway's token engine with the plugin's\n"
       "own provider scripts and HTTP client, and makes one fresh acquisition for server NAME (what\n"
       "POST /dicomweb-oauth/servers/NAME/test does). Prints the token metadata as JSON on standard\n"
       "output: provider, token type, expiry, scopes, time taken. Warnings, logs and errors go to\n"
       "standard error; an error is printed as: error <CODE>: <message>.\n"
       "\n"
       "  --config PATH       Orthanc configuration file or folder (required)\n"
       "  --server NAME       a server of DicomWebOAuth.Servers (required)\n"
       "  --show-token        also print the access token (\"accessToken\"); it is a credential\n"
       "  --scripts-dir DIR   use these script folders instead of ScriptDirectories (repeatable)\n"
       "\n"
       "Exit status: 0 token acquired, 1 configuration invalid or acquisition failed, 2 usage error.\n"
       "Run it with the same environment variables as Orthanc: an unset ${VAR} becomes \"\".",
       RunToken},
      {"sign",
       "--config PATH --server NAME --method M --url U [--header K:V]... [--body-file F] [--time T] "
       "[--show-credentials]",
       "print the credential headers the gateway would add to one request",
       "Reads and validates PATH like check-config, starts the gateway with the plugin's own provider\n"
       "scripts and HTTP client, and computes the headers the proxy would add to the request described:\n"
       "for bearer providers it acquires a token and prints `Authorization: Bearer ...`; for signing\n"
       "providers (ProviderType aws) it prints the SigV4 headers (Authorization, X-Amz-Date, and\n"
       "X-Amz-Security-Token with temporary credentials). One `Name: value` per line on standard output,\n"
       "credential values masked (`Authorization: Bearer ***`) unless --show-credentials is given.\n"
       "The URL must lie inside one of the server's upstreams (Url or Targets: same scheme, host and\n"
       "port, path at or below the base path once . and .. segments are removed), as the proxy route\n"
       "would reach it; any other URL is refused (CLI-002). Logs and errors go to standard error\n"
       "(error <CODE>: <message>).\n"
       "\n"
       "  --config PATH       Orthanc configuration file or folder (required)\n"
       "  --server NAME       a server of DicomWebOAuth.Servers (required)\n"
       "  --method M          HTTP method, e.g. GET or POST (required)\n"
       "  --url U             full upstream URL as it will be sent, query included (required)\n"
       "  --header K:V        a header the request will carry (repeatable; signed as given)\n"
       "  --body-file F       the request body (its SHA-256 is signed); default: no body\n"
       "  --time T            signing time YYYYMMDDTHHMMSSZ (SigV4 only), for reproducible output\n"
       "  --show-credentials  print the credential values themselves; they are live credentials\n"
       "  --scripts-dir DIR   use these script folders instead of ScriptDirectories (repeatable)\n"
       "\n"
       "Exit status: 0 headers printed, 1 configuration invalid, URL refused or no credential,\n"
       "2 usage error.",
       RunSign},
      {"audit verify", "FILE [--key REF]... [--key-file PATH]... [--checkpoint SEQ:MAC]... [--checkpoints FILE]...",
       "check the chain of an audit file (forged, edited, erased, moved or truncated records, wrong key)",
       "Reads FILE (JSON lines written by DicomWebOAuth.Audit) and checks every record: canonical JSON,\n"
       "its link (keyed: `mac` = HMAC-SHA256 under the chain key; legacy: `hash` = SHA-256, reported as\n"
       "UNKEYED), `prev` = the previous record's link, `seq` +1 per line, key changes only through audit.key\n"
       "records (a rotation is confirmed by the previous key), a newline at the end; and every checkpoint\n"
       "given matches the record it names, none beyond the end. Prints a summary, or the first bad line as:\n"
       "error <CODE> FILE:LINE: <problem>.\n"
       "\n"
       "  --key REF           the chain key: env:NAME, file:PATH or keyvault:URL (repeatable: one per key\n"
       "                      of a rotated chain); never the key itself\n"
       "  --key-file PATH     same as --key file:PATH\n"
       "  --checkpoint SEQ:MAC  a checkpoint noted elsewhere (repeatable)\n"
       "  --checkpoints FILE  every checkpoint in FILE: Orthanc's log or Audit.CheckpointFile (repeatable)\n"
       "\n"
       "Without checkpoints, records removed from the END of the file cannot be seen.\n"
       "\n"
       "Exit status: 0 intact, 1 not intact (edited, forged, erased, reordered; AUD-008) or unreadable,\n"
       "2 usage error, 3 key missing or wrong (AUD-012), 4 truncated after a checkpoint (AUD-013),\n"
       "5 a key was given but no record is keyed (AUD-014).",
       RunAuditVerify},
      {"scripts dry-run", "--config PATH [--scripts-dir DIR]... [--compare-dir DIR]...",
       "check changed Lua scripts the way a reload would, without publishing anything",
       "Reads and validates PATH like check-config, then runs what POST /dicomweb-oauth/reload runs on the\n"
       "script folders (--scripts-dir, or the configuration's ScriptDirectories): every script compiled, its\n"
       "contract checked, its self_test run, and every script the configuration names (providers, Policies,\n"
       "Audit.Rules) required. Prints each script as: script <name> (<kind> <version>) <file>, then the\n"
       "verdict. With --compare-dir (the folders that serve now, e.g. a copy of production), also prints\n"
       "each difference: change <added|removed|changed> <name> (<kind> <before> -> <after>). The REST\n"
       "equivalent against a running Orthanc is POST /dicomweb-oauth/reload/dry-run.\n"
       "\n"
       "  --config PATH       Orthanc configuration file or folder (required)\n"
       "  --scripts-dir DIR   the candidate script folders (repeatable; default: ScriptDirectories)\n"
       "  --compare-dir DIR   the script folders to compare with (repeatable)\n"
       "\n"
       "Exit status: 0 a reload would publish these scripts, 1 it would be refused (error <CODE>: ... on\n"
       "standard output) or the configuration is invalid, 2 usage error.",
       RunScriptsDryRun},
      {"policy evaluate",
       "--config PATH --server NAME --method M --path P [--query K=V]... [--header K:V]... [--user U] "
       "[--ip IP] [--stage upstream|client] [--operation OP] [--authorization none|expected|other] "
       "[--unhealthy TARGET]... [--scripts-dir DIR]...",
       "show what each routing policy of a server decides for a described request, and the combined decision",
       "Reads and validates PATH like check-config, loads the scripts like the plugin (--scripts-dir to try\n"
       "changed ones before a reload), and runs the server's Policies chain on the request described, as\n"
       "the plugin would build it. Prints each policy's own decision (policies after a denial are shown\n"
       "too, marked as not reached: the chain stops at the first denial) and the combined decision.\n"
       "\n"
       "  --config PATH       Orthanc configuration file or folder (required)\n"
       "  --server NAME       a server of DicomWebOAuth.Servers (required)\n"
       "  --method M          GET, POST, PUT or DELETE (required)\n"
       "  --path P            upstream stage: the DICOMweb path below the base URL (studies/1.2.3/series);\n"
       "                      client stage: the request URI (/dicom-web/servers/NAME/stow) (required)\n"
       "  --query K=V         a query argument (repeatable)\n"
       "  --header K:V        a request header (repeatable); an Authorization value is reduced to its scheme\n"
       "  --user U            the Orthanc user (client stage)\n"
       "  --ip IP             the caller's address (client stage)\n"
       "  --stage S           upstream (default for proxy servers) or client (default for inject servers)\n"
       "  --operation OP      client stage: stow, retrieve, get, post, qido, delete (default: the last path\n"
       "                      segment)\n"
       "  --authorization A   upstream stage: none, expected (default) or other (a caller's override)\n"
       "  --unhealthy TARGET  mark this target unhealthy (repeatable), to see failover\n"
       "  --scripts-dir DIR   use these script folders instead of ScriptDirectories (repeatable)\n"
       "\n"
       "Exit status: 0 allowed, 3 denied, 1 configuration or scripts invalid, 2 usage error.",
       RunPolicyEvaluate},
  };
  return kCommands;
}

int Dispatch(const std::vector<std::string>& words, Io io) {
  const Command* best = nullptr;
  size_t bestWords = 0;
  for (const Command& command : Commands()) {
    const std::vector<std::string> name = Words(command.name);
    if (name.size() <= words.size() && name.size() > bestWords &&
        std::equal(name.begin(), name.end(), words.begin())) {
      best = &command;
      bestWords = name.size();
    }
  }
  if (words.empty() || words[0] == "-h" || words[0] == "--help") {
    RunHelp({}, Io{words.empty() ? io.err : io.out, io.err});
    return words.empty() ? kExitUsage : kExitOk;
  }
  if (best == nullptr) {
    io.err << "dicomweb-oauth: unknown command '" << words[0] << "' (see: dicomweb-oauth help)\n";
    return kExitUsage;
  }
  try {
    return best->run(std::vector<std::string>(words.begin() + static_cast<long>(bestWords), words.end()), io);
  } catch (const std::exception& e) {
    io.err << "dicomweb-oauth: " << SecretRegistry::Redact(e.what()) << "\n";
  } catch (...) {
    io.err << "dicomweb-oauth: unexpected failure\n";
  }
  return kExitFailure;
}

}  // namespace gw::cli
