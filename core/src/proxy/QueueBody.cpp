#include "gw/proxy/QueueBody.h"

#include <algorithm>
#include <cstring>

#include "gw/proxy/ProxyErrors.h"

namespace gw::proxy {

Result<size_t> QueueBody::Read(char* out, size_t max) {
  if (max == 0) return size_t{0};
  if (replaying_) {
    if (replayPos_ < kept_.size()) {
      const size_t n = std::min(max, kept_.size() - replayPos_);
      std::memcpy(out, kept_.data() + replayPos_, n);
      replayPos_ += n;
      position_ += n;
      return n;
    }
    replaying_ = false;
  }
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
  if (replayable_) {
    if (kept_.size() + n <= replayLimit_) {
      kept_.append(out, n);
    } else {
      replayable_ = false;
      std::string().swap(kept_);
    }
  }
  position_ += n;
  return n;
}

bool QueueBody::Rewind() {
  if (!replayable_) return false;
  replaying_ = true;
  replayPos_ = 0;
  position_ = 0;
  return true;
}

}  // namespace gw::proxy
