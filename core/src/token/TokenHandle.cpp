#include "gw/token/TokenHandle.h"

#include <algorithm>

#include "KeySlot.h"
#include "gw/token/TokenErrors.h"

namespace gw::token {

namespace {
Error EmptyHandle() { return MakeTokenError(codes::kUnknownKey, "empty token handle (no such server or key)"); }
std::chrono::milliseconds NonNegative(std::chrono::milliseconds d) { return std::max(d, std::chrono::milliseconds(0)); }
}  // namespace

const std::string& TokenHandle::Key() const {
  static const std::string empty;
  return slot_ ? slot_->Key() : empty;
}

Result<const TokenRecord*> TokenHandle::Pin(std::chrono::milliseconds minRemaining,
                                            std::chrono::milliseconds maxWait) const {
  if (!slot_) return EmptyHandle();
  return slot_->Pin(NonNegative(minRemaining), NonNegative(maxWait));
}

void TokenHandle::Unpin() const {
  if (slot_) slot_->Unpin();
}

Result<std::shared_ptr<const TokenRecord>> TokenHandle::Get(std::chrono::milliseconds minRemaining,
                                                            std::chrono::milliseconds maxWait) const {
  if (!slot_) return EmptyHandle();
  return slot_->Acquire(NonNegative(minRemaining), NonNegative(maxWait));
}

void TokenHandle::Invalidate() const {
  if (slot_) slot_->Invalidate();
}

void TokenHandle::Prefetch() const {
  if (slot_) slot_->Prefetch();
}

TokenState TokenHandle::State() const {
  if (!slot_) return TokenState{};
  return slot_->State();
}

}  // namespace gw::token
