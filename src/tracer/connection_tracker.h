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
    std::uint64_t vanished = 0;       // gone without a close record (lost record): closed by us
    std::uint64_t stale_ignored = 0;  // live record seen after its close record
    std::uint64_t late_closes = 0;    // close record of a socket already closed by us
    std::uint64_t revived = 0;        // listed again after we closed it (a walk missed it)
  };

  // A socket missing from this many complete listings in a row is gone. One is
  // not enough: a close record may still be on its way (the close hook marks the
  // socket closed just before it submits the record), and the storage iterator
  // can skip an element when sockets come and go between two reads.
  static constexpr std::uint8_t kMissedListingsToClose = 2;
  // Sockets closed by us are remembered this many polls (at most kGraveyardMax of
  // them) so a record that comes after all is merged, never counted twice.
  static constexpr std::uint32_t kGraveyardPolls = 300;
  static constexpr std::size_t kGraveyardMax = 65536;

  using Sink = std::function<void(const ConnectionDelta&)>;

  // One poll, streamed (no per-socket vectors): BeginPoll(); Live() for each
  // iterator record — the sockets whose counters moved, or every tracked socket
  // when the listing is complete; then Closed() for each final record drained from
  // the ring buffer after the iterator was read; then EndPoll(complete). After a
  // complete listing a socket we remember that was neither listed nor closed is a
  // suspect; missing from kMissedListingsToClose complete listings in a row, it
  // lost its close record: EndPoll closes it (a delta with closed set and no
  // bytes: what it moved since its last listing is unknown here; the kernel counts
  // it when it drops the record). Returns the number closed so.
  void BeginPoll();
  void Live(const SocketSnapshot& s, const Sink& sink);
  // A record with cookie 0 is a socket never listed live (it opened and closed
  // between two polls): it is its whole life, and gets a made-up cookie
  // (kUnlistedCookieBit set) so downstream code can still tell sockets apart.
  void Closed(const SocketSnapshot& s, const Sink& sink);
  std::size_t EndPoll(bool complete, const Sink& sink);
  // Sockets missing from the last complete listing: the next poll should be complete.
  std::size_t suspects() const { return suspects_; }

  // The same for whole lists (tests).
  std::vector<ConnectionDelta> Apply(const std::vector<SocketSnapshot>& closed,
                                     const std::vector<SocketSnapshot>& live,
                                     bool complete = false);
  std::size_t graveyard_size() const { return graveyard_.size(); }
  const Stats& stats() const { return stats_; }

  static constexpr std::uint64_t kUnlistedCookieBit = 1ull << 63;
  std::uint64_t MakeUnlistedCookie() { return kUnlistedCookieBit | ++unlisted_; }

 private:
  // One per socket user space has heard of (80 bytes): what was reported, and who
  // it is, for the close we may have to make up.
  struct Known {
    std::uint64_t sent = 0, received = 0;
    std::uint64_t cgroup_id = 0;
    std::uint32_t retransmits = 0;
    std::uint32_t seen_in_poll = 0;
    std::uint32_t netns = 0, pid = 0;
    common::IpAddress local_ip, remote_ip;
    std::uint16_t local_port = 0, remote_port = 0;
    Role role = Role::kUnknown;
    std::uint8_t missed_listings = 0;  // complete listings in a row without it
  };
  static_assert(sizeof(Known) <= 80, "one per tracked socket: keep it small");
  struct Buried {  // a socket we closed without its record
    std::uint64_t sent = 0, received = 0;
    std::uint32_t retransmits = 0;
    std::uint32_t closed_in_poll = 0;
  };
  ConnectionDelta Advance(const SocketSnapshot& s);
  // A record for a socket we closed without its record: only what it adds is new.
  // Returns false when the cookie is not in the graveyard.
  bool Unbury(const SocketSnapshot& s, const Sink& sink);

  absl::flat_hash_map<std::uint64_t, Known> last_;
  absl::flat_hash_map<std::uint64_t, Buried> graveyard_;
  std::size_t suspects_ = 0;
  absl::flat_hash_set<std::uint64_t> closed_this_poll_, closed_last_poll_;
  std::uint32_t poll_ = 0;
  std::uint64_t unlisted_ = 0;  // made-up cookies handed out
  Stats stats_;
};

}  // namespace caretta::tracer
