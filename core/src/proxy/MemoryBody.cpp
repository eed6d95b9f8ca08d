#include "gw/proxy/MemoryBody.h"

#include <algorithm>
#include <cstring>

namespace gw::proxy {

Result<size_t> MemoryBody::Read(char* out, size_t max) {
  const size_t n = std::min(max, data_.size() - pos_);
  if (n > 0) std::memcpy(out, data_.data() + pos_, n);
  pos_ += n;
  return n;
}

}  // namespace gw::proxy
