#include "Commands.h"

namespace gw::cli {

int RunHelp(const std::vector<std::string>& args, Io io) {
  if (!args.empty()) {
    std::string wanted;
    for (const std::string& a : args) wanted += (wanted.empty() ? "" : " ") + a;
    for (const Command& c : Commands()) {
      if (wanted == c.name) {
        io.out << "usage: dicomweb-oauth " << c.name << (*c.usage ? " " : "") << c.usage << "\n\n"
               << c.summary << "\n";
        if (*c.details) io.out << "\n" << c.details << "\n";
        return kExitOk;
      }
    }
    io.err << "dicomweb-oauth: no command named '" << wanted << "'\n";
    return kExitUsage;
  }
  io.out << "usage: dicomweb-oauth COMMAND [ARGS]\n\ncommands:\n";
  for (const Command& c : Commands()) {
    std::string head = std::string(c.name) + (*c.usage ? " " : "") + c.usage;
    io.out << "  " << head;
    for (size_t i = head.size(); i < 40; ++i) io.out << ' ';
    io.out << " " << c.summary << "\n";
  }
  io.out << "\nRun 'dicomweb-oauth help COMMAND' for the details of one command.\n";
  return kExitOk;
}

}  // namespace gw::cli
