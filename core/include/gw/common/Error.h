#pragma once
// Expected failures travel as values. Every error carries a stable code that operators can search
// for (CFG-xxx configuration, LUA-xxx scripts, TOK-xxx tokens, NET-xxx transport, AUTH-xxx identity
// provider answers, PXY-xxx proxy), a message that never contains a secret, and the HTTP status a
// REST route should answer with when the error reaches a caller.
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace gw {

struct Error {
  std::string code;     // e.g. "CFG-002"
  std::string message;  // human readable, secret-free
  int httpStatus = 500;

  std::string ToString() const { return code + ": " + message; }
};

inline Error MakeError(std::string code, std::string message, int httpStatus = 500) {
  return Error{std::move(code), std::move(message), httpStatus};
}

// Whether `code` has the shape of an error code: 2-10 capital letters, a dash, 3 digits ("AUTH-001").
// Scripts may give their own codes (policies, providers); anything else is not passed on as a code.
bool IsErrorCode(std::string_view code);

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
