#pragma once
// Process-wide set of secret values (client secrets, tokens, private key material) that must never
// be shown. Log() and every error body produced by the plugin pass text through Redact().
// Values shorter than 6 characters are not registered (masking them would garble ordinary text).
//
// A secret leaves the gateway in other spellings than its own: form-encoded in a token request,
// base64 inside an HTTP Basic credential, JSON-escaped in a body that a service echoes back. Add()
// registers those spellings too (DerivedForms), so masking does not depend on how a remote
// service chose to quote what it received (docs/security.md, "Masking").
#include <string>
#include <string_view>
#include <vector>

namespace gw {

class SecretRegistry {
 public:
  // Registers `secret` and its derived forms. Adding a registered secret again does nothing.
  static void Add(std::string_view secret);
  // Registers the credential of HTTP Basic authentication (RFC 7617) exactly as it goes into the
  // header: `user` ":" `password` (each already in the spelling the sender uses, e.g. form-encoded
  // for OAuth client authentication), whose base64 form is the header value. The password alone
  // must be registered separately (Add).
  static void AddBasicCredential(std::string_view user, std::string_view password);
  // Unregisters `secret` and the derived forms registered with it.
  static void Remove(std::string_view secret);
  static void Clear();
  // Returns `text` with every registered secret, and every derived form of one, replaced by "***".
  static std::string Redact(std::string_view text);

  // The spellings Add registers for `secret` (the secret itself first), each at least 6
  // characters long:
  //  - percent-encoding as RFC 3986 (unreserved kept), application/x-www-form-urlencoded (WHATWG:
  //    alphanumerics and *-._ kept) and JavaScript's encodeURIComponent (also !~'() kept), each
  //    with a space as '+' and as %20, with upper- and lower-case hex;
  //  - JSON string escaping: the shortest form, '/' as \/, control characters as \u00XX in either
  //    case, and every non-ASCII character as \uXXXX (UTF-16 surrogates, either case);
  //  - base64 and base64url, with and without padding, plus the characters of the secret's
  //    encoding that do not depend on what surrounds it when it sits at any of the three byte
  //    offsets inside a longer base64 text (a Basic credential "id:secret", a JSON document...);
  //    the same for the secret's form-encoded spellings with '+' and upper-case hex (HTTP Basic
  //    client authentication form-encodes the secret first, RFC 6749 2.3.1).
  static std::vector<std::string> DerivedForms(std::string_view secret);
};

}  // namespace gw
