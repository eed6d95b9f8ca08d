#include "gw/common/Error.h"

#include <cstring>

namespace gw {

bool IsErrorCode(std::string_view code) {
  const size_t dash = code.find('-');
  if (dash == std::string_view::npos || dash < 2 || dash > 10 || code.size() != dash + 4) return false;
  for (size_t i = 0; i < dash; ++i) {
    if (code[i] < 'A' || code[i] > 'Z') return false;
  }
  for (size_t i = dash + 1; i < code.size(); ++i) {
    if (code[i] < '0' || code[i] > '9') return false;
  }
  return true;
}

std::string SystemErrorText(int errnoValue) {
  char buffer[256];
  // GNU strerror_r: returns either a constant string or `buffer`, filled.
  return strerror_r(errnoValue, buffer, sizeof buffer);
}

}  // namespace gw
