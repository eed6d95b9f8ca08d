#pragma once
// Orthanc 1.10's HTTP server only knows the statuses of its HttpStatus enumeration and throws on any
// other (the caller would get a 500 from Orthanc instead of the upstream's answer). 429 Too Many
// Requests, which cloud DICOMweb services use for throttling, is one of them. RepresentableStatus()
// gives the status to send instead: 429 -> 503 (Retry-After is kept, and the DICOMweb client treats
// both as "try later"), 308 -> 307, other unknown 2xx -> 200, 3xx -> 300, 4xx -> 400, 5xx -> 502.
// The proxy then adds X-DicomWeb-OAuth-Upstream-Status with the real code.
namespace gw::proxy {

int RepresentableStatus(long upstreamStatus);

}  // namespace gw::proxy
