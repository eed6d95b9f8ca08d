#include "lua/BlockCache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace gw::lua {

BlockCache::~BlockCache() {
  for (FreeBlock*& head : lists_) {
    while (head != nullptr) {
      FreeBlock* next = head->next;
      std::free(head);
      head = next;
    }
  }
}

void* BlockCache::Allocate(size_t size) {
  if (size > kMaxBlock) return std::malloc(size);
  const size_t c = ClassOf(size);
  if (FreeBlock* block = lists_[c]) {
    lists_[c] = block->next;
    cachedBytes_ -= c * kGranule;
    return block;
  }
  return std::malloc(c * kGranule);  // every small block has its class's full size
}

void BlockCache::Free(void* block, size_t size) {
  if (block == nullptr) return;
  const size_t c = ClassOf(size);
  if (size > kMaxBlock || cachedBytes_ + c * kGranule > kMaxCachedBytes) {
    std::free(block);
    return;
  }
  auto* node = static_cast<FreeBlock*>(block);
  node->next = lists_[c];
  lists_[c] = node;
  cachedBytes_ += c * kGranule;
}

void* BlockCache::Resize(void* block, size_t oldSize, size_t newSize) {
  const bool oldSmall = oldSize <= kMaxBlock;
  const bool newSmall = newSize <= kMaxBlock;
  if (oldSmall && newSmall && ClassOf(oldSize) == ClassOf(newSize)) return block;
  if (!oldSmall && !newSmall) return std::realloc(block, newSize);
  void* moved = Allocate(newSize);
  if (moved == nullptr) return nullptr;
  std::memcpy(moved, block, std::min(oldSize, newSize));
  Free(block, oldSize);
  return moved;
}

}  // namespace gw::lua
