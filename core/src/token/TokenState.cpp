#include "gw/token/TokenState.h"

namespace gw::token {

const char* ToString(TokenStatus status) {
  switch (status) {
    case TokenStatus::None: return "none";
    case TokenStatus::Valid: return "valid";
    case TokenStatus::Refreshing: return "refreshing";
    case TokenStatus::Expired: return "expired";
    case TokenStatus::Error: return "error";
  }
  return "?";
}

}  // namespace gw::token
