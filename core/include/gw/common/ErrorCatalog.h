#pragma once
// The one catalog of the gateway's error codes, every family in the same style: the code, the HTTP
// status a REST route answers with unless the place that raises it knows better, what it means,
// and the traits that the predicates below test, so that no module compares code strings to learn
// whether an error is a timeout or a failure of a script.
//
// Every code the sources use (core, plugin, tools, the shipped Lua scripts) is listed, and
// docs/errors.md lists the same codes with the same statuses: tests/unit/common/ErrorCatalogTest.cpp
// greps both. Family pages (token-engine.md, proxy-mode.md, lua-api.md, ...) keep their tables;
// the test checks that the statuses they give agree with this catalog.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gw/common/Error.h"

namespace gw {

enum ErrorTrait : uint8_t {
  kTraitNone = 0,
  kTraitTimeout = 1,        // a deadline or time budget ran out
  kTraitTransient = 2,      // may succeed if tried again soon (the token engine's retry table agrees)
  kTraitScriptFault = 4,    // a Lua script itself failed (not a deliberate refusal, not a busy pool)
  kTraitScriptRefusal = 8,  // a script returned an error of its own, without a code of its own
  kTraitLogOnly = 16,       // never answered to an HTTP caller: logs, the CLI, start-up, audit records
};

struct ErrorCodeInfo {
  std::string_view code;
  int httpStatus;  // the default answer; 500 for log-only codes (an internal error if one ever leaks)
  uint8_t traits;
  std::string_view meaning;
};

// The whole catalog, sorted by code (binary search).
struct ErrorCatalogView {
  const ErrorCodeInfo* first;
  size_t size;
  const ErrorCodeInfo* begin() const { return first; }
  const ErrorCodeInfo* end() const { return first + size; }
};
ErrorCatalogView ErrorCatalog();

// The entry of `code`, or null when it is not catalogued (a code a custom script made up).
const ErrorCodeInfo* FindErrorCode(std::string_view code);

// The catalogue's default status of `code`; 500 for a code it does not list.
int DefaultHttpStatus(std::string_view code);

// An error with the catalogue's default status for its code (MakeError() with the status given).
inline Error CatalogError(std::string_view code, std::string message) {
  return MakeError(std::string(code), std::move(message), DefaultHttpStatus(code));
}

// Whether the catalogue gives `code` the trait. A code it does not list has no trait, except that
// any LUA-xxx code counts as a script fault (fail closed: an unknown script failure is a failure).
bool HasTrait(std::string_view code, ErrorTrait trait);

inline bool IsTimeout(const Error& e) { return HasTrait(e.code, kTraitTimeout); }
inline bool IsTransient(const Error& e) { return HasTrait(e.code, kTraitTransient); }
inline bool IsScriptFault(const Error& e) { return HasTrait(e.code, kTraitScriptFault); }
inline bool IsScriptRefusal(const Error& e) { return HasTrait(e.code, kTraitScriptRefusal); }

}  // namespace gw
