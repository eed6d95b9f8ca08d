#include "gw/token/TokenErrors.h"

namespace gw::token {

Error MakeTokenError(const char* code, std::string message) { return CatalogError(code, std::move(message)); }

FailureKind ClassifyFailure(const Error& error) {
  return IsTransient(error) ? FailureKind::Transient : FailureKind::Permanent;
}

}  // namespace gw::token
