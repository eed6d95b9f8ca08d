#pragma once
// One proxy-mode request as the core sees it (the Orthanc glue builds it from Orthanc's request
// description), and what its admission decided (ProxyService::Admit).
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gw/common/TraceContext.h"
#include "gw/http/HttpTypes.h"
#include "gw/policy/PolicyRequest.h"
#include "gw/policy/TargetHealth.h"
#include "gw/proxy/Forwarder.h"
#include "gw/proxy/ServerRoute.h"
#include "gw/proxy/UpstreamUrl.h"

namespace gw::proxy {

struct Incoming {
  std::string method;   // GET, POST, PUT, DELETE: as Orthanc routed it (overrides already applied)
  std::string server;   // the {name} of /oauth-dicom-web/servers/{name}/
  std::string tail;     // the DICOMweb path below it
  http::Headers headers;  // lower-case names, as Orthanc gives them
  QueryParams query;      // decoded GET arguments (GET only)
  // A method override the request carries (Orthanc has already applied it to `method`), or none.
  std::optional<std::string> methodOverride;
  // W3C trace context sent upstream: the caller's trace continued (its trace id, a new parent id:
  // the gateway's span, also the request id in logs), or a new trace when the request carried
  // none or an invalid one.
  TraceContext trace;
  bool traceContinued = false;

  const std::string* Header(const char* lowerName) const;

  // The description of a request from what Orthanc hands a plugin route: `arguments` are the GET
  // arguments still percent-encoded (Orthanc 1.10 hands them over so, whatever method it made of
  // the request). Names the method override they or the headers carry, continues the caller's
  // trace, and for a GET decodes the arguments once into `query` ('+' stays '+': RFC 3986 query,
  // not a form; UpstreamUrl encodes again and still refuses control characters).
  static Incoming Describe(std::string method, std::string server, std::string tail, http::Headers headers,
                           const std::vector<std::pair<std::string, std::string>>& arguments);
};

// %XX -> byte, everything else as is.
std::string PercentDecode(std::string_view text);

// What ProxyService::Admit decided for one request: the server, the request to send, and how it
// was routed (for the audit record and the target's health).
struct Admission {
  const ServerRoute* route = nullptr;
  ForwardRequest request;
  policy::Decision decision;  // what the policies decided (allowed to the primary without policies)
  size_t target = 0;
  std::string targetName;  // the chosen target's name ("primary" unless Targets names it)
  std::shared_ptr<policy::TargetHealth> health;
  std::chrono::seconds retryAfter{0};  // refused by the rate limit: the Retry-After to answer
};

}  // namespace gw::proxy
