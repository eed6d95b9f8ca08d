#pragma once
// Free lists for the small blocks of one lua_State (tables, short strings, closures, hash parts).
//
// Why: a policy call creates and drops a few dozen small Lua objects. Through malloc, two threads
// deciding at once contended in the allocator (a third of a decision's time was malloc/free in
// bench_policy). A state is used by one thread at a time, so its own free lists need no lock and
// give a dropped block straight back to the next call.
// Blocks up to kMaxBlock bytes are rounded up to 16-byte classes; larger ones go to malloc as they
// are. 1024 rather than 256: a policy's request table has a 16-slot hash part (384 bytes) and its
// lazy fields' data userdata is ~0.5 KiB; above 256 both went through malloc and free every call
// (and the frees of a collection overflowed glibc's per-thread cache into _int_free).
// At most kMaxCachedBytes stay cached per state; the rest is freed. Built with
// AddressSanitizer, nothing is cached, so use-after-free in the glue stays detectable.
// Not thread safe: owned by one LuaState.
#include <array>
#include <cstddef>

namespace gw::lua {

class BlockCache {
 public:
  static constexpr size_t kGranule = 16;
  static constexpr size_t kMaxBlock = 1024;
#if defined(__SANITIZE_ADDRESS__)
  static constexpr size_t kMaxCachedBytes = 0;
#else
  static constexpr size_t kMaxCachedBytes = 256 * 1024;
#endif

  BlockCache() = default;
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  void* Allocate(size_t size);  // size > 0; null if the process is out of memory
  void Free(void* block, size_t size);
  // Like realloc for a block of `oldSize` bytes; null (block untouched) if out of memory.
  void* Resize(void* block, size_t oldSize, size_t newSize);

  size_t CachedBytes() const { return cachedBytes_; }

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  static size_t ClassOf(size_t size) { return (size + kGranule - 1) / kGranule; }  // 1..kMaxBlock/kGranule

  std::array<FreeBlock*, kMaxBlock / kGranule + 1> lists_{};
  size_t cachedBytes_ = 0;
};

}  // namespace gw::lua
