#pragma once
// A server definition of the DICOMweb plugin, as written with PUT /dicom-web/servers/{name}. The PUT
// replaces the whole definition (it never merges), so everything the server needs goes in one
// object. Shared by proxy mode (loopback URL + secret header) and inject mode (real URL +
// Authorization header).
//
// Booleans are written as the strings "1"/"0": the DICOMweb plugin stores unknown keys as "user
// properties", and Orthanc 1.10's parser accepts only strings there.
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace gw::proxy {

struct DicomWebDefinition {
  std::string url;
  std::string username;
  std::string password;                        // secret
  std::map<std::string, std::string> httpHeaders;  // values are secrets (tokens, loopback secret)
  std::optional<bool> hasDelete;
  std::optional<bool> chunkedTransfers;
  std::optional<int> timeoutSeconds;
  std::string certificateFile;
  std::string certificateKeyFile;
  std::string certificateKeyPassword;          // secret
  // Other keys carried over from DicomWeb.Servers.<name> (e.g. HasWadoRsUniversalTransferSyntax),
  // as strings. Keys that the fields above own are ignored here.
  std::map<std::string, std::string> userProperties;

  // The JSON body of the PUT. Contains secrets: never log it.
  std::string ToJson() const;

  // True for the keys the fields above own (Url, Username, Password, HttpHeaders, HasDelete,
  // ChunkedTransfers, Timeout, Certificate*, Pkcs11), compared case-sensitively as Orthanc does.
  static bool IsOwnedKey(std::string_view key);

  // How the definition the DICOMweb plugin holds (`shown`: its entry in GET {Root}servers?expand,
  // null when the server is not listed) differs from this one, as far as that view shows it (Url,
  // Username, HttpHeaders names, HasDelete; header values and passwords are never shown): a short
  // reason naming the field (never a value), or nothing when they agree.
  std::optional<std::string> DriftFrom(const rapidjson::Value* shown) const;
};

// http://127.0.0.1:<port>/oauth-dicom-web/servers/<name>/ : the proxy route for `name`.
std::string LoopbackUrl(int httpPort, std::string_view name);
// True when `url` (any host or port) is the proxy route of `name`, with or without the trailing
// '/': how a Python-plugin configuration's DicomWeb.Servers entry is recognised.
bool IsLoopbackRouteUrl(std::string_view url, std::string_view name);

}  // namespace gw::proxy
