#pragma once
// What the proxy needs to know about one server in proxy mode: where its upstream is and how to
// talk to it. Built once at start-up from the configuration (by the Orthanc glue); immutable.
#include <chrono>
#include <string>

#include "gw/http/HttpTypes.h"
#include "gw/proxy/LoopbackSecret.h"
#include "gw/proxy/UpstreamUrl.h"

namespace gw::proxy {

struct ServerRoute {
  std::string name;
  UpstreamUrl upstream;             // the real DICOMweb base URL
  LoopbackSecret secret;            // expected in X-DicomWeb-OAuth-Gateway
  http::TlsOptions tls;             // VerifySSL / CaBundle / CertificateFile...
  http::Headers extraHeaders;       // the server's configured HttpHeaders (sent upstream)
  std::chrono::milliseconds connectTimeout{10000};
  std::chrono::milliseconds idleTimeout{120000};   // Timeout when configured
  // The credential signs the body (SigV4): request bodies are spooled and hashed before sending.
  bool spoolBody = false;
  std::string spoolDirectory;       // where spooled bodies go; empty = the system temp folder
};

}  // namespace gw::proxy
