// Turns per-socket kernel totals into per-poll deltas. Pure logic: the BPF side
// reports cumulative counters per socket (live sockets from the iterator, final
// counters from the close ring buffer); this class remembers what it reported last
// so each byte is counted exactly once, even when a socket opens and closes between
// two polls or a stale live record races its own close record.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
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

  using Sink = std::function<void(const ConnectionDelta&)>;

  // One poll, streamed (no per-socket vectors): BeginPoll(); Live() for each
  // iterator record — the sockets whose counters moved, or every tracked socket
  // when the listing is complete; then Closed() for each final record drained from
  // the ring buffer after the iterator was read; then EndPoll(complete). After a
  // complete listing a socket we remember that was neither listed nor closed lost
  // its close record, and is forgotten.
  void BeginPoll();
  void Live(const SocketSnapshot& s, const Sink& sink);
  // A record with cookie 0 is a socket never listed live (it opened and closed
  // between two polls): it is its whole life, and gets a made-up cookie
  // (kUnlistedCookieBit set) so downstream code can still tell sockets apart.
  void Closed(const SocketSnapshot& s, const Sink& sink);
  void EndPoll(bool complete);

  // The same for whole lists (tests).
  std::vector<ConnectionDelta> Apply(const std::vector<SocketSnapshot>& closed,
                                     const std::vector<SocketSnapshot>& live,
                                     bool complete = false);
  const Stats& stats() const { return stats_; }

  static constexpr std::uint64_t kUnlistedCookieBit = 1ull << 63;
  std::uint64_t MakeUnlistedCookie() { return kUnlistedCookieBit | ++unlisted_; }

 private:
  struct Totals {  // 24 bytes: this table holds one entry per tracked socket
    std::uint64_t sent = 0, received = 0;
    std::uint32_t retransmits = 0;
    std::uint32_t seen_in_poll = 0;
  };
  ConnectionDelta Advance(const SocketSnapshot& s);

  absl::flat_hash_map<std::uint64_t, Totals> last_;
  absl::flat_hash_set<std::uint64_t> closed_this_poll_, closed_last_poll_;
  std::uint32_t poll_ = 0;
  std::uint64_t unlisted_ = 0;  // made-up cookies handed out
  Stats stats_;
};

}  // namespace caretta::tracer
