#pragma once
// A request body held in memory (always replayable). Not thread safe: one exchange reads it.
#include <string>

#include "gw/proxy/IRequestBody.h"

namespace gw::proxy {

class MemoryBody final : public IRequestBody {
 public:
  explicit MemoryBody(std::string data) : data_(std::move(data)) {}

  std::optional<uint64_t> Size() const override { return data_.size(); }
  Result<size_t> Read(char* out, size_t max) override;
  bool Rewind() override {
    pos_ = 0;
    return true;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

}  // namespace gw::proxy
