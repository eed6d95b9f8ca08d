#pragma once
// Internal to core/src/crypto: strict JSON object parsing and compact serialization (rapidjson).
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "gw/common/Error.h"

namespace gw::crypto::detail {

// Parses `text` as one JSON object with valid UTF-8 and no duplicate member names at the top level
// (a duplicate "alg" or "aud" would let two readers see different tokens). CRY-002 naming `what`.
Result<rapidjson::Document> ParseObject(std::string_view text, const char* what);

std::string Serialize(const rapidjson::Value& value);

// Printable, length-limited copy of an untrusted string for error messages (kid, alg, claim values).
std::string Printable(std::string_view text, size_t maxLength = 64);

}  // namespace gw::crypto::detail
