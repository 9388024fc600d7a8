#include "tracer/close_cache.h"

#include <atomic>
#include <cstring>

namespace caretta::tracer {
namespace {

// Copies a slot the kernel may be writing. The writer stores `end`, the data, then
// `begin`; loading `begin` first and `end` last, a copy with begin == end saw no
// write in progress (a seqlock split in two; x86-64 keeps both orders).
bool CopySlot(const caretta_close_slot* slot, caretta_close_slot* out) {
  std::uint32_t begin = __atomic_load_n(&slot->begin, __ATOMIC_ACQUIRE);
  std::memcpy(out, const_cast<const caretta_close_slot*>(slot), sizeof *out);
  std::atomic_thread_fence(std::memory_order_acquire);
  std::uint32_t end = __atomic_load_n(&slot->end, __ATOMIC_RELAXED);
  return begin == end;
}

}  // namespace

void CloseCache::Advance(std::uint64_t id, const caretta_close_slot& slot, bool final,
                         const Sink& sink) {
  CloseTotals now{slot.sent, slot.received, slot.sockets, slot.retransmits};
  auto it = last_.find(id);
  CloseTotals before = it == last_.end() ? CloseTotals{} : it->second;
  // Totals only grow within a generation, and a slot is read every poll, far more
  // often than its 32-bit counts can wrap: a difference modulo 2^32 (2^64) is the
  // step even across a wrap.
  CloseTotals delta{now.sent - before.sent, now.received - before.received,
                    now.sockets - before.sockets, now.retransmits - before.retransmits};
  if (final) {
    if (it != last_.end()) last_.erase(it);
  } else if (it == last_.end()) {
    last_.emplace(id, now);
  } else {
    it->second = now;
  }
  if (!delta.Empty()) sink(slot.key, delta);
}

void CloseCache::Read(const Sink& sink) {
  const auto* caches = static_cast<const caretta_close_cache*>(caches_);
  for (int cpu = 0; cpu < ncpus_; ++cpu) {
    for (std::uint32_t i = 0; i < CARETTA_CLOSE_SLOTS; ++i) {
      const caretta_close_slot* slot = &caches[cpu].slot[i];
      if (__atomic_load_n(&slot->gen, __ATOMIC_RELAXED) == 0) continue;  // never used
      caretta_close_slot copy;
      bool whole = false;
      for (int attempt = 0; attempt < 4 && !whole; ++attempt) whole = CopySlot(slot, &copy);
      if (!whole) {
        ++torn_reads_;
        continue;
      }
      Advance(Id(static_cast<std::uint32_t>(cpu), i, copy.gen), copy, /*final=*/false, sink);
    }
  }
}

void CloseCache::Flushed(const caretta_slot_flush& flush, const Sink& sink) {
  Advance(Id(flush.cpu, flush.index, flush.slot.gen), flush.slot, /*final=*/true, sink);
}

}  // namespace caretta::tracer
