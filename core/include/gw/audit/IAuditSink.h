#pragma once
// Where audit events go. The data path calls Record() for every request, so an implementation
// must return quickly: the AuditLog runs the audit rules on the calling thread (a Lua call, tens
// of microseconds) and queues the record for a writer thread; it blocks only when its bounded
// queue is full, and then for at most the configured QueueTimeoutMs.
//
// Thread safety: Record() and Accepting() may be called from any thread at the same time.
#include <memory>
#include <mutex>

#include "gw/audit/AuditEvent.h"

namespace gw::audit {

class IAuditSink {
 public:
  virtual ~IAuditSink() = default;
  virtual void Record(AuditEvent event) = 0;
  // False when records are being lost (the file cannot be written, the queue overflows) and the
  // operator asked the gateway to fail closed: the proxy then refuses requests (AUD-005).
  virtual bool Accepting() const { return true; }
};

// A sink whose target is set later (or never). Components created before the audit log exists
// (token sources registered in Gateway::Create) hold this one; events before SetTarget() or
// without a target are discarded, which is what "audit not configured" means.
class DeferredSink final : public IAuditSink {
 public:
  void SetTarget(std::shared_ptr<IAuditSink> target) {
    std::lock_guard<std::mutex> lock(mutex_);
    target_ = std::move(target);
  }
  std::shared_ptr<IAuditSink> Target() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return target_;
  }
  void Record(AuditEvent event) override {
    if (auto t = Target()) t->Record(std::move(event));
  }
  bool Accepting() const override {
    auto t = Target();
    return !t || t->Accepting();
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<IAuditSink> target_;
};

}  // namespace gw::audit
