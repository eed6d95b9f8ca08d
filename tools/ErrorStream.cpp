#include "ErrorStream.h"

#include <mutex>

namespace gw::cli {
namespace {
std::mutex g_errMutex;
}  // namespace

void ErrLine(std::ostream& err, const std::string& line) {
  std::lock_guard<std::mutex> lock(g_errMutex);
  err << line + "\n" << std::flush;
}

void ErrSink::Write(LogLevel level, std::string_view message) {
  ErrLine(err_, std::string(ToString(level)) + ": " + std::string(message));
}

}  // namespace gw::cli
