#include "gw/token/TokenErrors.h"

#include <cstring>

namespace gw::token {

namespace {

struct CodeStatus {
  const char* code;
  int httpStatus;
};

constexpr CodeStatus kStatuses[] = {
    {codes::kExpiredRefreshFailed, 503}, {codes::kAcquisitionFailed, 503},
    {codes::kCircuitOpen, 503},          {codes::kInvalidTokenResponse, 502},
    {codes::kValidationFailed, 502},     {codes::kUnknownKey, 404},
    {codes::kDeadlineExceeded, 503},
};

struct Classification {
  const char* code;
  FailureKind kind;
};

// The one table. Keep it in sync with the comment on ClassifyFailure() in TokenErrors.h.
constexpr Classification kClassification[] = {
    {"NET-001", FailureKind::Transient},
    {"NET-002", FailureKind::Transient},
    {"NET-003", FailureKind::Transient},
    {"NET-005", FailureKind::Transient},
    {"NET-004", FailureKind::Permanent},
    {"NET-006", FailureKind::Permanent},
    {"AUTH-005", FailureKind::Transient},
    {"AUTH-001", FailureKind::Permanent},
    {"TOK-004", FailureKind::Transient},
    {"LUA-004", FailureKind::Transient},
    {"TOK-003", FailureKind::Permanent},
    {"TOK-007", FailureKind::Permanent},
};

}  // namespace

Error MakeTokenError(const char* code, std::string message) {
  int status = 500;
  for (const auto& s : kStatuses) {
    if (std::strcmp(s.code, code) == 0) status = s.httpStatus;
  }
  return MakeError(code, std::move(message), status);
}

FailureKind ClassifyFailure(const Error& error) {
  for (const auto& entry : kClassification) {
    if (error.code == entry.code) return entry.kind;
  }
  return FailureKind::Permanent;
}

}  // namespace gw::token
