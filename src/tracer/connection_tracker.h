// Turns per-socket kernel totals into per-poll deltas. Pure logic: the BPF side
// reports cumulative counters per socket (live sockets from the iterator, final
// counters from the close ring buffer); this class remembers what it reported last
// so each byte is counted exactly once, even when a socket opens and closes between
// two polls or a stale live record races its own close record.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "caretta_types.h"
#include "tracer/connection.h"

namespace caretta::tracer {

// Converts the kernel's record to a snapshot: data bytes exclude SYN/FIN.
SocketSnapshot FromRaw(const caretta_conn& raw);

class ConnectionTracker {
 public:
  struct Stats {
    std::uint64_t tracked = 0;        // sockets remembered after the last poll
    std::uint64_t vanished = 0;       // disappeared without a close record (lost record)
    std::uint64_t stale_ignored = 0;  // live record seen after its close record
  };

  // `closed` are final records drained from the ring buffer since the last poll;
  // `live` are the iterator's records, read before them: the sockets whose counters
  // moved, or every tracked socket when `complete` (then a socket we remember that
  // is neither listed nor closed lost its close record, and is forgotten).
  std::vector<ConnectionDelta> Apply(const std::vector<SocketSnapshot>& closed,
                                     const std::vector<SocketSnapshot>& live,
                                     bool complete = false);
  const Stats& stats() const { return stats_; }

 private:
  struct Totals {
    std::uint64_t sent = 0, received = 0;
    std::uint32_t retransmits = 0;
    std::uint64_t seen_in_poll = 0;
  };
  ConnectionDelta Advance(const SocketSnapshot& s);

  std::unordered_map<std::uint64_t, Totals> last_;
  std::unordered_set<std::uint64_t> closed_last_poll_;
  std::uint64_t poll_ = 0;
  Stats stats_;
};

}  // namespace caretta::tracer
