#pragma once
// A caller's handle on one cache key, resolved once (TokenManager::Register/Find) and then used
// on every request: no map lookup, no global lock on the way to the token.
//
// Hot path (cache hit): one atomic load of the key's generation (a cache line written only when
// the token changes), one read of this thread's own cache entry (a thread_local shared_ptr to the
// current record, refreshed only when the generation moved), one clock read and a compare, and a
// sharded hit counter. Nothing on it writes a cache line another thread writes, and nothing
// allocates.
//
// Use(fn) runs fn(const TokenRecord&) while the record is pinned by the calling thread: no
// reference count is touched; ~38 ns per hit, the same with a second thread hitting the same key
// (bench/bench_token_cache.cpp, docs/token-engine.md). Get() returns a shared_ptr copy: simpler,
// ~50 ns alone but ~1.35x per call with two threads (they share the record's reference count).
//
// minRemaining: the token must stay valid at least this long (e.g. a long STOW). If the cached
// one does not, it is refreshed just in time (single flight) and the caller waits, up to maxWait.
// If the IdP only issues tokens shorter than that, the freshest token is returned (a token
// fetched less than 5% of its lifetime ago is not fetched again for this reason).
//
// Errors (httpStatus in brackets): TOK-001 [503] expired and refresh failed, TOK-002 [503] no token
// could be obtained (or none valid long enough), TOK-006 [404] empty handle or key removed,
// TOK-007 [503] maxWait elapsed while the fetch was still running. Messages carry the last
// fetch error (code and message), never the token.
// Thread safety: a handle may be copied and used from any number of threads.
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "gw/common/Error.h"
#include "gw/token/TokenRecord.h"
#include "gw/token/TokenState.h"

namespace gw::token {

namespace detail {
class KeySlot;
}

inline constexpr std::chrono::milliseconds kDefaultMaxWait{10000};

class TokenHandle {
 public:
  TokenHandle() = default;  // empty: every call fails with TOK-006

  bool Empty() const { return slot_ == nullptr; }
  const std::string& Key() const;

  template <class F>
  Status Use(std::chrono::milliseconds minRemaining, std::chrono::milliseconds maxWait, F&& fn) const {
    Result<const TokenRecord*> pinned = Pin(minRemaining, maxWait);
    if (!pinned.Ok()) return pinned.GetError();
    PinGuard guard{this};
    std::forward<F>(fn)(*pinned.Value());
    return Status::Success();
  }
  template <class F>
  Status Use(F&& fn) const {
    return Use(std::chrono::milliseconds(0), kDefaultMaxWait, std::forward<F>(fn));
  }

  Result<std::shared_ptr<const TokenRecord>> Get(std::chrono::milliseconds minRemaining = std::chrono::milliseconds(0),
                                                 std::chrono::milliseconds maxWait = kDefaultMaxWait) const;

  // Drops the cached token (e.g. after an upstream 401) and starts fetching a new one (subject to
  // back-off); the next Get() waits for that single fetch.
  void Invalidate() const;
  // Fetches a new token now, past any back-off, and waits for it (at most maxWait). Unlike
  // Invalidate(), the cached token is kept, and served, if the fetch fails: a test of the identity
  // provider never takes a working token away from traffic.
  Result<std::shared_ptr<const TokenRecord>> FetchNow(std::chrono::milliseconds maxWait = kDefaultMaxWait) const;
  // Starts a background fetch if no usable token is cached and none is being fetched; never
  // blocks (e.g. at start-up in inject mode).
  void Prefetch() const;

  TokenState State() const;

 private:
  friend class TokenManager;
  struct PinGuard {
    const TokenHandle* handle;
    ~PinGuard() { handle->Unpin(); }
  };
  explicit TokenHandle(std::shared_ptr<detail::KeySlot> slot) : slot_(std::move(slot)) {}
  Result<const TokenRecord*> Pin(std::chrono::milliseconds minRemaining, std::chrono::milliseconds maxWait) const;
  void Unpin() const;

  std::shared_ptr<detail::KeySlot> slot_;
};

}  // namespace gw::token
