// dicomweb-oauth: the gateway's operator CLI. See Commands.h.
#include <iostream>

#include "Commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  return gw::cli::Dispatch(words, gw::cli::Io{std::cout, std::cerr});
}
