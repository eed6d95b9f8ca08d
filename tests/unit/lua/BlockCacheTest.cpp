// BlockCache: the per-state free lists behind Lua's allocator. Blocks keep their bytes across a
// resize, a freed small block is handed out again, and the cache never holds more than its cap.
#include <cstring>
#include <vector>

#include <catch2/catch.hpp>

#include "lua/BlockCache.h"

using gw::lua::BlockCache;

namespace {

void Fill(void* block, size_t size, unsigned char seed) {
  auto* bytes = static_cast<unsigned char*>(block);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<unsigned char>(seed + i);
}

bool Holds(const void* block, size_t size, unsigned char seed) {
  const auto* bytes = static_cast<const unsigned char*>(block);
  for (size_t i = 0; i < size; ++i) {
    if (bytes[i] != static_cast<unsigned char>(seed + i)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("BlockCache/resize keeps the bytes across every boundary", "[lua]") {
  BlockCache cache;
  // Within a class, class to class, small to large, large to large, large to small.
  const std::vector<std::pair<size_t, size_t>> steps = {{1, 15},   {16, 17},   {40, 200}, {200, 256},
                                                        {256, 257}, {300, 5000}, {5000, 100}, {100, 3}};
  for (const auto& [from, to] : steps) {
    INFO(from << " -> " << to);
    void* block = cache.Allocate(from);
    REQUIRE(block != nullptr);
    Fill(block, from, 7);
    void* resized = cache.Resize(block, from, to);
    REQUIRE(resized != nullptr);
    CHECK(Holds(resized, std::min(from, to), 7));
    Fill(resized, to, 9);  // the whole new size is writable (ASan checks the block's real size)
    cache.Free(resized, to);
  }
}

TEST_CASE("BlockCache/a freed small block is reused, large ones are not cached", "[lua]") {
  BlockCache cache;
  void* a = cache.Allocate(24);
  cache.Free(a, 24);
  if (BlockCache::kMaxCachedBytes == 0) {  // sanitizer build: everything goes back to malloc
    CHECK(cache.CachedBytes() == 0);
    return;
  }
  CHECK(cache.CachedBytes() == 32);
  void* b = cache.Allocate(30);  // same 32-byte class
  CHECK(b == a);
  CHECK(cache.CachedBytes() == 0);
  void* same = cache.Resize(b, 30, 32);  // same class: nothing moves
  CHECK(same == b);
  cache.Free(same, 32);
  void* large = cache.Allocate(BlockCache::kMaxBlock + 1);
  cache.Free(large, BlockCache::kMaxBlock + 1);
  CHECK(cache.CachedBytes() == 32);
}

TEST_CASE("BlockCache/the cache stays under its cap", "[lua]") {
  BlockCache cache;
  std::vector<void*> blocks;
  const size_t count = BlockCache::kMaxCachedBytes / BlockCache::kMaxBlock + 100;
  for (size_t i = 0; i < count; ++i) blocks.push_back(cache.Allocate(BlockCache::kMaxBlock));
  for (void* block : blocks) cache.Free(block, BlockCache::kMaxBlock);
  CHECK(cache.CachedBytes() <= BlockCache::kMaxCachedBytes);
  CHECK(cache.CachedBytes() + BlockCache::kMaxBlock > BlockCache::kMaxCachedBytes);
}
