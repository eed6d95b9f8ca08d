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

bool HasUsableToken(const TokenState& state, SystemTime now) {
  return state.expiresAt && *state.expiresAt > now && state.status != TokenStatus::Expired;
}

}  // namespace gw::token
