#pragma once
// What a routing policy sees of one request, and what it decides. Plain data, no Orthanc type.
//
// The same request description serves both places where policies run:
//   - stage "upstream" (proxy mode): each request the DICOMweb plugin sends through the gateway's
//     route /oauth-dicom-web/servers/{name}/<path>, before it is forwarded;
//   - stage "client" (inject mode): each /dicom-web/servers/{name}/<operation> call seen by
//     Orthanc's incoming-request filter, with the Orthanc user and the caller's IP.
// The views point into the caller's data and must outlive PolicyEngine::Decide().
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "gw/http/HttpTypes.h"

namespace gw::policy {

enum class Stage { Upstream, Client };
const char* ToString(Stage stage);  // "upstream" | "client"

// One upstream a server can route to (`Targets`, or the server's `Url` as "primary").
struct TargetView {
  std::string_view name;
  std::string_view url;
  bool healthy = true;
};

struct PolicyRequest {
  Stage stage = Stage::Upstream;
  std::string_view server;
  std::string_view mode;       // "inject" | "proxy": the server's configured mode
  std::string_view method;     // GET, POST, PUT, DELETE
  std::string_view path;       // upstream: the DICOMweb path below the server's base URL;
                               // client: the request URI
  std::string_view operation;  // client: stow|retrieve|get|post|qido|delete|wado; upstream: empty
  const http::Headers* headers = nullptr;  // may be null; names compared case-insensitively
  const std::vector<std::pair<std::string, std::string>>* query = nullptr;  // may be null
  std::string_view user;       // the Orthanc user (client stage with authentication), else empty
  std::string_view ip;         // the caller's IP (client stage), else empty
  // upstream stage: "none" (no Authorization header), "expected" (exactly what the gateway's own
  // loopback server definition makes the DICOMweb plugin send) or "other" (a caller's override).
  // Empty: not known (client stage).
  std::string_view authorization;
  std::vector<TargetView> targets;  // in configured order; the first is the primary
  const rapidjson::Value* config = nullptr;  // the server's PolicyConfig object, or null
};

// The combined outcome of a server's policies. Deny carries the status, code and reason to answer
// with; allow may carry a target, header edits and a minimum token lifetime.
struct Decision {
  bool allow = false;
  int status = 403;             // when denied: 400-599
  std::string code;             // when denied: POL-xxx or the policy's own code
  std::string reason;           // safe to answer and log: never a header value or a credential
  std::string policy;           // the policy that denied (or failed), empty when allowed
  std::string target;           // chosen target name; empty = the primary
  http::Headers setHeaders;     // replace (or add) these request headers
  std::vector<std::string> removeHeaders;  // drop these request headers (lower-case)
  std::chrono::seconds minTokenSeconds{0};  // the credential must stay valid at least this long
  std::vector<std::string> policies;        // the policies that were consulted, in order
};

}  // namespace gw::policy
