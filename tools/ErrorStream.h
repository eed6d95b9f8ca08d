#pragma once
// The CLI's error stream, written by the command's thread and by the engine's fetch threads (their
// log lines): one lock and one preformatted write per line, so lines never interleave.
#include <ostream>
#include <string>
#include <string_view>

#include "gw/common/Log.h"

namespace gw::cli {

void ErrLine(std::ostream& err, const std::string& line);

// Engine logs (provider scripts, token engine) go to the error stream after masking by Log().
class ErrSink final : public ILogSink {
 public:
  explicit ErrSink(std::ostream& err) : err_(err) {}
  void Write(LogLevel level, std::string_view message) override;

 private:
  std::ostream& err_;
};

}  // namespace gw::cli
