#include "Commands.h"

#ifndef GW_VERSION
#define GW_VERSION "unknown"
#endif

namespace gw::cli {

int RunVersion(const std::vector<std::string>& args, Io io) {
  if (!args.empty()) {
    io.err << "dicomweb-oauth: version takes no arguments\n";
    return kExitUsage;
  }
  io.out << "dicomweb-oauth " << GW_VERSION << "\n";
  return kExitOk;
}

}  // namespace gw::cli
