// gw.http.request{...}: outgoing HTTP through the engine's IHttpClient.
// gw.http.basic_auth(id, secret) and gw.http.mask(text): the credential side of it.
#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "gw/common/ErrorCatalog.h"
#include "gw/common/SecretRegistry.h"
#include "gw/crypto/Encoding.h"
#include "gw/http/HttpTypes.h"
#include "gw/http/IHttpClient.h"
#include "lua/AllowedFile.h"
#include "lua/BindingRegistry.h"
#include "lua/EngineServices.h"
#include "lua/LuaState.h"
#include "lua/StackGuard.h"

namespace gw::lua {
namespace {

constexpr const char* kFn = "gw.http.request";


bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c != prefix[i]) return false;
  }
  return true;
}

// Registers the credential of HTTP Basic authentication `user`:`password` (RFC 7617) and the
// password alone, so that an answer echoing the request (the header's base64, the decoded pair,
// the password) is masked in every log line, error body and audit record.
void RegisterBasicCredential(std::string_view user, std::string_view password) {
  SecretRegistry::AddBasicCredential(user, password);
  SecretRegistry::Add(password);
}

// A script that builds an `Authorization: Basic` header by hand sends a credential the gateway
// never saw: it is registered here, before the request leaves.
void RegisterSentCredentials(const http::Headers& headers) {
  for (const auto& [name, value] : headers) {
    if (name.size() != 13 || !StartsWithNoCase(name, "authorization") || !StartsWithNoCase(value, "basic ")) continue;
    std::string_view encoded(value);
    encoded.remove_prefix(6);
    while (!encoded.empty() && (encoded.front() == ' ' || encoded.front() == '\t')) encoded.remove_prefix(1);
    while (!encoded.empty() && (encoded.back() == ' ' || encoded.back() == '\t')) encoded.remove_suffix(1);
    const Result<std::string> decoded = crypto::Base64Decode(encoded);
    if (!decoded) {
      SecretRegistry::Add(encoded);  // not base64: whatever it is, it is the credential
      continue;
    }
    const std::string& pair = decoded.Value();
    const size_t colon = pair.find(':');
    if (colon == std::string::npos) {
      SecretRegistry::Add(pair);
    } else {
      RegisterBasicCredential(std::string_view(pair).substr(0, colon), std::string_view(pair).substr(colon + 1));
    }
  }
}

// stack: ... -> ..., nil, {code=, message=}
int PushFailure(lua_State* L, std::string_view code, std::string_view message) {
  lua_pushnil(L);
  lua_createtable(L, 0, 2);
  lua_pushlstring(L, code.data(), code.size());
  lua_setfield(L, -2, "code");
  lua_pushlstring(L, message.data(), message.size());
  lua_setfield(L, -2, "message");
  return 2;
}

// Reads the `headers` field ({name = value, ...}) of the options table at index 1.
void ReadHeaders(lua_State* L, http::Headers& out) {
  if (!PushFieldTable(L, 1, "headers", kFn)) return;  // stack: ..., headers
  const int headers = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, headers) != 0) {                 // stack: ..., headers, name, value
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
      throw BindingError(std::string(kFn) + ": headers must map strings to strings");
    }
    size_t nameLength = 0;
    size_t valueLength = 0;
    const char* name = lua_tolstring(L, -2, &nameLength);
    const char* value = lua_tolstring(L, -1, &valueLength);
    const std::string_view nameView(name, nameLength);
    if (!http::IsHttpToken(nameView)) {
      throw BindingError(std::string(kFn) + ": invalid header name '" + std::string(nameView.substr(0, 64)) + "'");
    }
    // The value is not quoted in the message: it may be a credential.
    if (http::HasLineBreakOrNul(std::string_view(value, valueLength))) {
      throw BindingError(std::string(kFn) + ": the value of header '" + std::string(nameView.substr(0, 64)) +
                         "' contains a line break or NUL");
    }
    out.emplace_back(std::string(nameView), std::string(value, valueLength));
    lua_pop(L, 1);                                    // stack: ..., headers, name
  }
  lua_pop(L, 1);                                      // stack: ...
}

// A file of the tls table (`field`), read here through the same allowlist and checks as
// gw.file.read (ReadAllowedFile, same errors) and handed to libcurl by contents: libcurl never
// opens a path a script chose. An empty file would silently mean "none" to libcurl: refused.
void ReadTlsFile(lua_State* L, int t, const char* field, std::string& out) {
  const auto path = FieldString(L, t, field, kFn);
  if (!path) return;
  out = ReadAllowedFile(L, *path, kFn);
  if (out.empty()) throw BindingError(std::string(kFn) + ": tls." + field + " names an empty file");
}

void ReadTls(lua_State* L, http::TlsOptions& tls) {
  if (!PushFieldTable(L, 1, "tls", kFn)) return;     // stack: ..., tls
  const int t = lua_gettop(L);
  if (auto verify = FieldBoolean(L, t, "verify", kFn)) tls.verifyPeer = *verify;
  ReadTlsFile(L, t, "ca_file", tls.caBundlePem);
  ReadTlsFile(L, t, "cert_file", tls.clientCertificatePem);
  ReadTlsFile(L, t, "key_file", tls.clientKeyPem);
  if (auto v = FieldString(L, t, "key_password", kFn)) tls.clientKeyPassword = std::string(*v);
  lua_pop(L, 1);                                      // stack: ...
}

// gw.http.request{method=, url=, headers=, body=, timeout_ms=, tls={verify=, ca_file=, cert_file=,
// key_file=, key_password=}} -> {status=, headers={<lowercase name>=value}, body=}
//                               or nil, {code=, message=} (transport failure, NET-xxx).
// Raises on malformed options. The timeout is capped by what is left of the call's budget; with
// nothing left the call is stopped (LUA-004).
// Stack an HTTP exchange gets (see Request).
constexpr size_t kHttpStackBytes = 512 * 1024;

int Request(lua_State* L) {
  ArgTable(L, 1, kFn, "options");
  CallContext& context = RequireContext(L, kFn);

  http::HttpRequest request;
  const auto url = FieldString(L, 1, "url", kFn);
  if (!url) throw BindingError(std::string(kFn) + ": field 'url' is required");
  request.url = std::string(*url);
  if (auto method = FieldString(L, 1, "method", kFn)) {
    request.method = std::string(*method);
    std::transform(request.method.begin(), request.method.end(), request.method.begin(),
                   [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; });
    if (!http::IsHttpToken(request.method)) throw BindingError(std::string(kFn) + ": invalid method");
  }
  ReadHeaders(L, request.headers);
  if (auto body = FieldString(L, 1, "body", kFn)) request.body = std::string(*body);
  std::chrono::milliseconds timeout = request.timeout;
  if (auto ms = FieldInteger(L, 1, "timeout_ms", kFn)) {
    if (*ms <= 0) throw BindingError(std::string(kFn) + ": timeout_ms must be positive");
    timeout = std::chrono::milliseconds(*ms);
  }
  ReadTls(L, request.tls);
  RegisterSentCredentials(request.headers);

  if (!StartsWithNoCase(request.url, "http://") && !StartsWithNoCase(request.url, "https://")) {
    return PushFailure(L, "NET-004", "only http:// and https:// URLs are allowed");
  }
  const std::shared_ptr<http::IHttpClient>& client = context.services->Options().http;
  if (!client) throw BindingError(std::string(kFn) + ": no HTTP client is configured");

  const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
      context.deadline - std::chrono::steady_clock::now());
  if (remaining.count() < 1) {
    context.state->Kill(KillReason::Deadline);
    throw BindingError(std::string(kFn) + ": the call has no time budget left");
  }
  request.timeout = std::min(timeout, remaining);
  request.connectTimeout = std::min(request.connectTimeout, request.timeout);

  // libcurl and OpenSSL (a TLS handshake) need more stack than a script may leave on an Orthanc
  // HTTP thread (100 KiB in all): the exchange runs on a thread with a known stack when this one
  // is short of it.
  Result<http::HttpResponse> result = CatalogError(codes::kNetOther, "the HTTP exchange did not run");
  std::string threadError;
  if (!RunWithStack(kHttpStackBytes, [&] { result = client->Perform(request); }, threadError)) {
    return PushFailure(L, "NET-005", "cannot start the HTTP exchange: " + threadError);
  }  // blocks; no Lua call meanwhile
  if (!result) return PushFailure(L, result.GetError().code, result.GetError().message);

  const http::HttpResponse& response = result.Value();
  lua_createtable(L, 0, 3);                                   // stack: ..., r
  lua_pushinteger(L, static_cast<lua_Integer>(response.status));
  lua_setfield(L, -2, "status");
  lua_createtable(L, 0, static_cast<int>(response.headers.size()));  // stack: ..., r, h
  for (const auto& [name, value] : response.headers) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
    lua_pushlstring(L, lower.data(), lower.size());           // stack: ..., r, h, name
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);                                        // stack: ..., r, h, name, previous
    if (lua_type(L, -1) == LUA_TSTRING) {                     // repeated header: join with ", "
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, value.data(), value.size());
      lua_concat(L, 3);                                       // stack: ..., r, h, name, joined
    } else {
      lua_pop(L, 1);
      lua_pushlstring(L, value.data(), value.size());         // stack: ..., r, h, name, value
    }
    lua_rawset(L, -3);                                        // stack: ..., r, h
  }
  lua_setfield(L, -2, "headers");                             // stack: ..., r
  lua_pushlstring(L, response.body.data(), response.body.size());
  lua_setfield(L, -2, "body");
  return 1;
}

// gw.http.basic_auth(user, password) -> "Basic " .. base64(user .. ":" .. password) (RFC 7617),
// the credential registered as a secret (with its base64 form: the header value). The caller
// encodes user and password as its protocol wants (OAuth: form-encoded, lua/lib/oauth.lua).
int BasicAuth(lua_State* L) {
  const std::string_view user = ArgString(L, 1, "gw.http.basic_auth", "user");
  const std::string_view password = ArgString(L, 2, "gw.http.basic_auth", "password");
  if (user.find(':') != std::string_view::npos) {
    throw BindingError("gw.http.basic_auth: the user must not contain ':' (RFC 7617)");
  }
  RegisterBasicCredential(user, password);
  std::string pair;
  pair.reserve(user.size() + 1 + password.size());
  pair.append(user).append(1, ':').append(password);
  const std::string header = "Basic " + crypto::Base64Encode(pair);
  lua_pushlstring(L, header.data(), header.size());
  return 1;
}

// gw.http.mask(text) -> `text` with every registered secret and derived form of one as "***"
// (gw::SecretRegistry): for text from a remote service, before it is cut to length (a cut
// through the middle of an echoed secret would leave a prefix no mask matches).
int Mask(lua_State* L) {
  const std::string masked = SecretRegistry::Redact(ArgString(L, 1, "gw.http.mask", "text"));
  lua_pushlstring(L, masked.data(), masked.size());
  return 1;
}

}  // namespace

const BindingNamespace& HttpNamespace() {
  static const BindingNamespace ns{
      "http", {{"request", &Protect<Request>}, {"basic_auth", &Protect<BasicAuth>}, {"mask", &Protect<Mask>}}};
  return ns;
}

}  // namespace gw::lua
