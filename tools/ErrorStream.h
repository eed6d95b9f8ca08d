#pragma once
// The CLI's error stream, written by the command's thread and by the engine's fetch threads (their
// log lines): one lock and one preformatted write per line, so lines never interleave. Also the
// configuration loading shared by the commands that start a gateway (token, sign).
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "gw/common/Log.h"
#include "gw/config/GatewayConfig.h"

namespace gw::cli {

void ErrLine(std::ostream& err, const std::string& line);

// `error CODE: message`, secrets redacted.
void PrintError(std::ostream& err, const std::string& code, const std::string& message);

// Reads and validates `path` like check-config (and the plugin) do, Key Vault references included,
// with `scriptDirs` replacing ScriptDirectories when not empty. Registers every secret before
// printing anything, prints every diagnostic to `err`, and returns the configuration only when it
// has no error.
std::optional<config::GatewayConfig> LoadConfiguration(const std::string& path,
                                                       const std::vector<std::string>& scriptDirs,
                                                       std::ostream& err);

// Engine logs (provider scripts, token engine) go to the error stream after masking by Log().
class ErrSink final : public ILogSink {
 public:
  explicit ErrSink(std::ostream& err) : err_(err) {}
  void Write(LogLevel level, std::string_view message) override;

 private:
  std::ostream& err_;
};

}  // namespace gw::cli
