#pragma once
// What the data path (proxy mode, inject mode) asks of the token engine: the headers that
// authenticate one request to a server's upstream. Bearer providers answer
// `Authorization: Bearer <token>`; signing providers (AWS SigV4, later) compute headers from the
// request itself, which is why the request's method, URL and headers are passed.
//
// Errors: TOK-xxx (503) when no valid credential can be had within the deadline, TOK-006 (404)
// for an unknown server. Implementations are thread safe and never log the returned values.
#include <chrono>
#include <string>
#include <string_view>

#include "gw/common/Error.h"
#include "gw/http/HttpTypes.h"

namespace gw::proxy {

struct OutgoingRequest {
  std::string_view method;
  std::string_view url;            // the full upstream URL
  const http::Headers* headers;    // headers that will be sent (without credentials)
  std::string_view payloadSha256;  // hex; empty when the body streams and is not hashed
};

class ICredentialSource {
 public:
  virtual ~ICredentialSource() = default;

  // Headers to add to `request` for `server`. `minRemaining`: the credential must stay valid at
  // least that long (a long upload). May block until a fetch completes, bounded by `timeout`.
  virtual Result<http::Headers> CredentialHeaders(const std::string& server, const OutgoingRequest& request,
                                                  std::chrono::seconds minRemaining,
                                                  std::chrono::milliseconds timeout) = 0;

  // The upstream answered 401 to a request made with the credential for `server`: drop it so the
  // next call acquires a fresh one.
  virtual void CredentialRejected(const std::string& server) = 0;

  // True when `server`'s credential covers the request body (AWS SigV4 signs its SHA-256): the
  // proxy must then hash the whole body before the request can be sent (see SpoolBody).
  virtual bool NeedsPayloadHash(const std::string& /*server*/) const { return false; }
};

}  // namespace gw::proxy
