#include "gw/token/TokenHandle.h"

#include <algorithm>

#include "KeySlot.h"
#include "gw/token/TokenErrors.h"

namespace gw::token {

namespace {
Error EmptyHandle() { return MakeTokenError(codes::kUnknownKey, "empty token handle (no such server or key)"); }
// Durations from callers are clamped to [0, 10 years] so that "now + d" cannot overflow.
std::chrono::milliseconds Clamped(std::chrono::milliseconds d) {
  constexpr std::chrono::milliseconds kMax = std::chrono::hours(24 * 3650);
  return std::clamp(d, std::chrono::milliseconds(0), kMax);
}
}  // namespace

const std::string& TokenHandle::Key() const {
  static const std::string empty;
  return slot_ ? slot_->Key() : empty;
}

Result<const TokenRecord*> TokenHandle::Pin(std::chrono::milliseconds minRemaining,
                                            std::chrono::milliseconds maxWait) const {
  if (!slot_) return EmptyHandle();
  return slot_->Pin(Clamped(minRemaining), Clamped(maxWait));
}

void TokenHandle::Unpin() const {
  if (slot_) slot_->Unpin();
}

Result<std::shared_ptr<const TokenRecord>> TokenHandle::Get(std::chrono::milliseconds minRemaining,
                                                            std::chrono::milliseconds maxWait) const {
  if (!slot_) return EmptyHandle();
  return slot_->Acquire(Clamped(minRemaining), Clamped(maxWait));
}

void TokenHandle::Invalidate() const {
  if (slot_) slot_->Invalidate();
}

Result<std::shared_ptr<const TokenRecord>> TokenHandle::FetchNow(std::chrono::milliseconds maxWait) const {
  if (!slot_) return EmptyHandle();
  return slot_->FetchNow(Clamped(maxWait));
}

void TokenHandle::Prefetch() const {
  if (slot_) slot_->Prefetch();
}

TokenState TokenHandle::State() const {
  if (!slot_) return TokenState{};
  return slot_->State();
}

}  // namespace gw::token
