#pragma once
// Expected failures travel as values. Every error carries a stable code that operators can search
// for (CFG-xxx configuration, LUA-xxx scripts, TOK-xxx tokens, NET-xxx transport, AUTH-xxx identity
// provider answers, PXY-xxx proxy), a message that never contains a secret, and the HTTP status a
// REST route should answer with when the error reaches a caller.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace gw {

// Where an error came from, for a caller that must act on more than the code: read these fields,
// never cut `message` apart (its wording is for people and may change).
struct ErrorOrigin {
  std::string script;    // the Lua script ("" when the error did not come from one)
  std::string function;  // its function ("decide", "acquire", "sign", ...)
  // What the script itself said when it returned `nil, "reason"` or `nil, {message=...}`: the
  // text without the gateway's "script.fn returned an error: " prefix. Empty for other failures.
  std::string reason;
};

struct Error {
  std::string code;     // e.g. "CFG-002"
  std::string message;  // human readable, secret-free
  int httpStatus = 500;
  // Optional structured details (shared: an Error is copied along many layers, the origin never changes).
  std::shared_ptr<const ErrorOrigin> origin;

  std::string ToString() const { return code + ": " + message; }
};

inline Error MakeError(std::string code, std::string message, int httpStatus = 500) {
  Error e;
  e.code = std::move(code);
  e.message = std::move(message);
  e.httpStatus = httpStatus;
  return e;
}

// The default status of a code is in the catalog (gw/common/ErrorCatalog.h: CatalogError()).

// Whether `code` has the shape of an error code: 2-10 capital letters, a dash, 3 digits ("AUTH-001").
// Scripts may give their own codes (policies, providers); anything else is not passed on as a code.
bool IsErrorCode(std::string_view code);

// The text of an errno value ("No such file or directory"), safe to call from any thread
// (std::strerror may share one buffer between threads).
std::string SystemErrorText(int errnoValue);

// Result<T>: either a value or an Error. Small on purpose: Ok(), Value(), GetError().
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}      // NOLINT(google-explicit-constructor)

  bool Ok() const { return v_.index() == 0; }
  explicit operator bool() const { return Ok(); }
  T& Value() & { return std::get<0>(v_); }
  const T& Value() const& { return std::get<0>(v_); }
  T&& Value() && { return std::get<0>(std::move(v_)); }
  const Error& GetError() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
class Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  static Status Success() { return Status(); }
  bool Ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& GetError() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace gw
