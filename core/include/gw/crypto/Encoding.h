#pragma once
// The encodings gw::crypto uses, under their crypto names: one implementation in gw/common
// (Encoding.h), which the configuration module uses too without depending on crypto.
#include "gw/common/Encoding.h"
#include "gw/crypto/Errors.h"

namespace gw::crypto {

using encoding::Base64Decode;
using encoding::Base64Encode;
using encoding::Base64UrlDecode;
using encoding::Base64UrlEncode;
using encoding::HexDecode;
using encoding::HexEncode;

static_assert(std::string_view(encoding::kBadEncoding) == errc::kBadEncoding,
              "the decoders report crypto's code for a bad encoding");

}  // namespace gw::crypto
