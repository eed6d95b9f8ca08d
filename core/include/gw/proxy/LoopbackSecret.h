#pragma once
// The per-start secret that proves a request to /oauth-dicom-web/servers/{name}/ comes from this
// Orthanc's own DICOMweb plugin. The gateway writes it, as the header X-DicomWeb-OAuth-Gateway, into
// the loopback server definition it gives the DICOMweb plugin; the route refuses any request whose
// header does not match (PXY-006). One secret per server, so the definition of one server cannot be
// used (e.g. with "../other/" in a /get Uri) to reach another server's credential.
//
// 32 random bytes from the kernel (getrandom), hex-encoded; registered with SecretRegistry so it is
// masked in every log line and error body. Comparison is constant-time in the candidate's content.
//
// Thread safety: immutable after Generate(); Matches() may run on any thread.
#include <string>
#include <string_view>

#include "gw/common/Error.h"

namespace gw::proxy {

class LoopbackSecret {
 public:
  // Fails (PXY-006, 500) only when the kernel cannot provide random bytes.
  static Result<LoopbackSecret> Generate();
  // For tests: a secret with a known value (must be 16+ characters).
  static LoopbackSecret FromValue(std::string value);

  const std::string& Value() const { return value_; }
  // True when `candidate` equals the secret. The time taken does not depend on where the first
  // difference is (only on the lengths).
  bool Matches(std::string_view candidate) const;

 private:
  explicit LoopbackSecret(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

}  // namespace gw::proxy
