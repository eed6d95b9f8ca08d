#include "gw/common/Error.h"

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

}  // namespace gw
