// Reads the kernel's per-CPU close caches (see bpf/caretta_types.h): closes of
// sockets never listed live, folded per link in place. Each slot generation holds
// cumulative totals for one key; this class remembers what it reported of each
// generation so every close is counted once, whether its totals are read from the
// slot, from the slot's final flush record, or both.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/container/flat_hash_map.h"
#include "caretta_types.h"

namespace caretta::tracer {

struct CloseTotals {
  std::uint64_t sent = 0, received = 0;
  std::uint32_t sockets = 0, retransmits = 0;
  bool Empty() const { return sent == 0 && received == 0 && sockets == 0 && retransmits == 0; }
};

class CloseCache {
 public:
  using Sink = std::function<void(const caretta_close_key&, const CloseTotals& delta)>;

  // `caches` points at `ncpus` consecutive struct caretta_close_cache (the
  // mmap of the BPF array), written concurrently by the kernel.
  CloseCache(const void* caches, int ncpus) : caches_(caches), ncpus_(ncpus) {}

  // Reports every slot whose totals moved since the last read. A slot caught
  // mid-update is retried, then left for the next read (its totals are cumulative).
  void Read(const Sink& sink);
  // A slot's final totals for one generation, sent before the slot changed key.
  // (The kernel changes a slot's key only once its flush record is in the ring, so
  // every generation ends here, and nothing is kept for it afterwards.)
  void Flushed(const caretta_slot_flush& flush, const Sink& sink);

  std::uint64_t torn_reads() const { return torn_reads_; }
  std::size_t generations() const { return last_.size(); }

 private:
  static std::uint64_t Id(std::uint32_t cpu, std::uint32_t index, std::uint32_t gen) {
    return (static_cast<std::uint64_t>(cpu) << 40) | (static_cast<std::uint64_t>(index) << 32) |
           gen;
  }
  // Reports slot totals beyond what was reported of this generation.
  void Advance(std::uint64_t id, const caretta_close_slot& slot, bool final, const Sink& sink);

  const void* caches_;
  int ncpus_;
  absl::flat_hash_map<std::uint64_t, CloseTotals> last_;  // by (cpu, slot, generation)
  std::uint64_t torn_reads_ = 0;
};

}  // namespace caretta::tracer
