// LinkTable: folds per-socket deltas into links keyed by (client entity, server
// entity, server port, role). Totals only grow while the agent runs: closed
// connections stay folded into their link. Ephemeral client ports never appear in
// a key. One writer (the poll loop) calls Apply(); readers take Snapshot(), an
// immutable copy published after each Apply, and never block the writer.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "resolve/entity.h"
#include "tracer/connection.h"

namespace caretta::links {

struct LinkKey {
  resolve::Entity client;
  resolve::Entity server;
  std::uint16_t server_port = 0;
  tracer::Role role = tracer::Role::kUnknown;  // which end observed it
  // The Service the client addressed when NAT sent it to `server` (empty kind when
  // the client connected to the server directly).
  resolve::Entity via_service;
  std::uint16_t via_service_port = 0;  // the Service port the client addressed
  friend auto operator<=>(const LinkKey&, const LinkKey&) = default;
  friend bool operator==(const LinkKey&, const LinkKey&) = default;
};

// Caretta's TcpConnection states, kept for caretta_tcp_states.
enum class LinkState : int { kOpen = 3, kAccept = 4, kClosed = 5 };

constexpr int kRateHistory = 32;  // per-link samples kept for rate windows

struct LinkTotals {
  std::uint64_t bytes_sent = 0;      // by the observing end
  std::uint64_t bytes_received = 0;  // by the observing end
  std::uint64_t connections_opened = 0;
  std::int64_t active_connections = 0;
  std::uint64_t retransmits = 0;
  LinkState state = LinkState::kClosed;
  // (poll time in seconds, bytes both ways) for the last kRateHistory polls.
  std::array<std::pair<double, std::uint64_t>, kRateHistory> history{};
  int history_len = 0;
};

struct FailedKey {
  resolve::Entity client, server;
  std::uint16_t server_port = 0;
  friend auto operator<=>(const FailedKey&, const FailedKey&) = default;
};

// What changed on one link in one poll (the sum over its sockets): the input.
struct LinkDelta {
  LinkKey key;
  std::uint64_t sent = 0, received = 0, retransmits = 0;
  std::uint32_t opened = 0;        // connections first seen
  std::int64_t active_change = 0;  // first seen and still open, minus closed since seen
  std::uint32_t failed = 0;        // connects that never established (not link traffic)

  // Folds one socket's change in (or `sockets` alike, folded by the kernel).
  void Add(std::uint64_t sent_bytes, std::uint64_t received_bytes, std::uint64_t retrans,
           bool socket_opened, bool socket_closed, bool socket_failed, std::uint32_t sockets = 1);
  LinkDelta& operator+=(const LinkDelta& other);
};

struct LinkSnapshot {
  double taken_at = 0;  // seconds since the epoch
  std::map<LinkKey, LinkTotals> links;
  std::map<FailedKey, std::uint64_t> failed_connects;
  std::map<std::pair<std::string, std::string>, std::uint64_t> zone_bytes;  // (client, server zone)
  std::uint64_t links_over_cap = 0;  // deltas refused because the table was full
  std::uint64_t bytes_over_cap = 0;  // their bytes
};

class LinkTable {
 public:
  explicit LinkTable(std::size_t max_links) : max_links_(max_links) {}

  // Folds one poll's deltas in and publishes a new snapshot stamped `now`.
  void Apply(const std::vector<LinkDelta>& deltas, double now);
  std::shared_ptr<const LinkSnapshot> Snapshot() const;

 private:
  std::size_t max_links_;
  LinkSnapshot state_;  // writer's copy
  mutable std::mutex publish_mu_;
  std::shared_ptr<const LinkSnapshot> published_ = std::make_shared<LinkSnapshot>();
};

// Bytes per second over the last `window` seconds from a link's history (0 when
// fewer than two samples fall inside it).
double RateOver(const LinkTotals& totals, double window_seconds, double now);

}  // namespace caretta::links
