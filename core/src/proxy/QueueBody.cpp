#include "gw/proxy/QueueBody.h"

#include <algorithm>
#include <cstring>

#include "gw/proxy/ProxyErrors.h"

namespace gw::proxy {

Result<size_t> QueueBody::Read(char* out, size_t max) {
  if (max == 0) return size_t{0};
  auto read = queue_.Read(out, max, idleTimeout_);
  if (!read) return read.GetError();
  const size_t n = read.Value();
  if (n == 0) {
    if (declaredSize_ && position_ != *declaredSize_) {
      return BodyError("the body ended after " + std::to_string(position_) + " of the " +
                       std::to_string(*declaredSize_) + " bytes announced by Content-Length");
    }
    return size_t{0};
  }
  if (declaredSize_ && position_ + n > *declaredSize_) {
    return BodyError("the body is longer than the " + std::to_string(*declaredSize_) +
                     " bytes announced by Content-Length");
  }
  position_ += n;
  return n;
}

bool QueueBody::Rewind() {
  if (!queue_.Rewind()) return false;
  position_ = 0;
  return true;
}

}  // namespace gw::proxy
