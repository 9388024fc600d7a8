#include "links/link_table.h"

namespace caretta::links {

void LinkDelta::Add(std::uint64_t sent_bytes, std::uint64_t received_bytes, std::uint64_t retrans,
                    bool socket_opened, bool socket_closed, bool socket_failed,
                    std::uint32_t sockets) {
  if (socket_failed) {
    failed += sockets;
    return;
  }
  sent += sent_bytes;
  received += received_bytes;
  retransmits += retrans;
  if (socket_opened) opened += sockets;
  if (socket_opened && !socket_closed) active_change += sockets;
  if (socket_closed && !socket_opened) active_change -= sockets;
}

LinkDelta& LinkDelta::operator+=(const LinkDelta& o) {
  sent += o.sent;
  received += o.received;
  retransmits += o.retransmits;
  opened += o.opened;
  active_change += o.active_change;
  failed += o.failed;
  return *this;
}

void LinkTable::Apply(const std::vector<LinkDelta>& deltas, double now) {
  for (const LinkDelta& d : deltas) {
    if (d.failed)
      state_.failed_connects[FailedKey{d.key.client, d.key.server, d.key.server_port}] += d.failed;
    if (d.sent == 0 && d.received == 0 && d.retransmits == 0 && d.opened == 0 &&
        d.active_change == 0)
      continue;
    auto it = state_.links.find(d.key);
    if (it == state_.links.end()) {
      if (state_.links.size() >= max_links_) {
        ++state_.links_over_cap;
        state_.bytes_over_cap += d.sent + d.received;
        continue;
      }
      it = state_.links.emplace(d.key, LinkTotals{}).first;
    }
    LinkTotals& t = it->second;
    t.bytes_sent += d.sent;
    t.bytes_received += d.received;
    t.retransmits += d.retransmits;
    t.connections_opened += d.opened;
    t.active_connections += d.active_change;
    if (t.active_connections < 0) t.active_connections = 0;
    t.state = t.active_connections > 0
                  ? (d.key.role == tracer::Role::kServer ? LinkState::kAccept : LinkState::kOpen)
                  : LinkState::kClosed;
    // Cross-zone accounting from the client's view only, so a connection seen at
    // both ends is not counted twice when both ends are on this node.
    if (d.key.role == tracer::Role::kClient || d.key.client.kind == "external")
      state_.zone_bytes[{d.key.client.zone, d.key.server.zone}] += d.sent + d.received;
  }
  for (auto& [key, t] : state_.links) {
    auto sample = std::make_pair(now, t.bytes_sent + t.bytes_received);
    if (t.history_len < kRateHistory) {
      t.history[t.history_len++] = sample;
    } else {
      std::move(t.history.begin() + 1, t.history.end(), t.history.begin());
      t.history.back() = sample;
    }
  }
  state_.taken_at = now;
  auto published = std::make_shared<const LinkSnapshot>(state_);
  std::lock_guard lock(publish_mu_);
  published_ = std::move(published);
}

std::shared_ptr<const LinkSnapshot> LinkTable::Snapshot() const {
  std::lock_guard lock(publish_mu_);  // guards the pointer swap only
  return published_;
}

double RateOver(const LinkTotals& totals, double window_seconds, double now) {
  if (totals.history_len < 2) return 0;
  const auto& newest = totals.history[totals.history_len - 1];
  const std::pair<double, std::uint64_t>* oldest = nullptr;
  for (int i = 0; i < totals.history_len - 1; ++i) {
    if (now - totals.history[i].first <= window_seconds + 1e-9) {
      oldest = &totals.history[i];
      break;
    }
  }
  if (!oldest || newest.first <= oldest->first) return 0;
  return static_cast<double>(newest.second - oldest->second) / (newest.first - oldest->first);
}

}  // namespace caretta::links
