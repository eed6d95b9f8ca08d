#pragma once
// Per-request signing by a provider script's sign(ctx) (contract in docs/lua-api.md, "Signing
// providers"), apart from where the credential comes from: the gateway hands in the credential
// its token engine holds for the server (if the provider acquires one).
//
//   ctx = {credential?, server, config, request = {method, url, headers, payload_sha256}, time?}
//   sign(ctx) returns {headers = {name = value, ...}}; anything else is SIG-001 (500).
#include <chrono>
#include <optional>
#include <string>

#include <rapidjson/document.h>

#include "gw/common/Error.h"
#include "gw/http/HttpTypes.h"
#include "gw/lua/ScriptEngine.h"
#include "gw/proxy/ICredentialSource.h"

namespace gw::service {

// The argument of sign(). `serverConfig` is the server object as configured (null: {}); repeated
// header lines become one value joined with ',' (how SigV4 canonicalises them), in arrival order.
// `fixedTime` ("YYYYMMDDTHHMMSSZ") is passed as `time` when not empty.
rapidjson::Document BuildSignContext(const std::string& server, const rapidjson::Value* serverConfig,
                                     const std::optional<std::string>& credential,
                                     const proxy::OutgoingRequest& request, const std::string& fixedTime);

// The headers sign() returned: SIG-001 without a `headers` table, with a value that is not a
// string or that holds CR, LF or NUL.
Result<http::Headers> ReadSignedHeaders(const rapidjson::Document& out, const std::string& provider);

// Calls `provider`.sign for `server` within `budget` and reads its headers. A script failure keeps
// its code with a status of at least 500: the caller's request is fine, signing failed.
Result<http::Headers> SignRequest(lua::ScriptEngine& engine, const std::string& provider, const std::string& server,
                                  const rapidjson::Document& context, std::chrono::milliseconds budget);

}  // namespace gw::service
