#include "tracer/connection_tracker.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace caretta::tracer {
namespace {

constexpr std::uint16_t kAfInet = 2;
constexpr std::uint8_t kTcpClose = 7;

common::IpAddress ToIp(std::uint16_t family, const std::uint8_t (&raw)[16]) {
  if (family == kAfInet) {
    std::uint32_t v4;
    std::memcpy(&v4, raw, 4);
    return common::IpAddress::V4(v4);
  }
  std::array<std::uint8_t, 16> bytes;
  std::memcpy(bytes.data(), raw, 16);
  return common::IpAddress::V6(bytes);
}

std::uint64_t MinusFlag(std::uint64_t value, bool flag) {
  return (flag && value > 0) ? value - 1 : value;
}

}  // namespace

SocketSnapshot FromRaw(const caretta_conn& raw) {
  SocketSnapshot s;
  s.cookie = raw.cookie;
  s.role = static_cast<Role>(raw.role);
  s.local_ip = ToIp(raw.family, raw.laddr);
  s.remote_ip = ToIp(raw.family, raw.raddr);
  s.local_port = raw.lport;
  s.remote_port = raw.rport;
  s.netns = raw.netns;
  s.pid = raw.pid;
  s.cgroup_id = raw.cgroup_id;
  s.tcp_state = raw.state;
  // The FIN occupies one sequence number in both kernel counters.
  s.bytes_sent = MinusFlag(raw.bytes_acked, raw.fin_acked);
  s.bytes_received = MinusFlag(raw.bytes_received, raw.fin_received);
  s.retransmits = raw.retransmits;
  s.closed = raw.kind == CARETTA_RECORD_CLOSED || raw.kind == CARETTA_RECORD_FAILED;
  s.failed = raw.kind == CARETTA_RECORD_FAILED;
  return s;
}

ConnectionDelta ConnectionTracker::Advance(const SocketSnapshot& s) {
  ConnectionDelta d;
  d.socket = s;
  auto [it, inserted] = last_.try_emplace(s.cookie);
  Known& t = it->second;
  d.opened = inserted;
  if (inserted) {
    t.cgroup_id = s.cgroup_id;
    t.netns = s.netns;
    t.pid = s.pid;
    t.local_ip = s.local_ip;
    t.remote_ip = s.remote_ip;
    t.local_port = s.local_port;
    t.remote_port = s.remote_port;
    t.role = s.role;
  }
  // Totals only move forward: a counter that reads lower (a racing read of the FIN
  // accounting) is held at its previous value.
  d.sent = s.bytes_sent > t.sent ? s.bytes_sent - t.sent : 0;
  d.received = s.bytes_received > t.received ? s.bytes_received - t.received : 0;
  d.retransmits = s.retransmits > t.retransmits ? s.retransmits - t.retransmits : 0;
  t.sent = std::max(t.sent, s.bytes_sent);
  t.received = std::max(t.received, s.bytes_received);
  t.retransmits = std::max(t.retransmits, s.retransmits);
  t.seen_in_poll = poll_;
  t.missed_listings = 0;
  return d;
}

bool ConnectionTracker::Unbury(const SocketSnapshot& s, const Sink& sink) {
  auto it = graveyard_.find(s.cookie);
  if (it == graveyard_.end()) return false;
  const Buried b = it->second;
  graveyard_.erase(it);
  if (s.closed) {
    // Its late close record: the bytes beyond what we had, and no second close.
    ++stats_.late_closes;
    ConnectionDelta d;
    d.socket = s;
    d.socket.closed = false;
    d.socket.failed = false;
    d.sent = s.bytes_sent > b.sent ? s.bytes_sent - b.sent : 0;
    d.received = s.bytes_received > b.received ? s.bytes_received - b.received : 0;
    d.retransmits = s.retransmits > b.retransmits ? s.retransmits - b.retransmits : 0;
    closed_this_poll_.insert(s.cookie);
    if (d.sent || d.received || d.retransmits) sink(d);
    return true;
  }
  // Still open after all (a walk missed it): open again from where it was.
  ++stats_.revived;
  Known& k = last_[s.cookie];
  k.sent = b.sent;
  k.received = b.received;
  k.retransmits = b.retransmits;
  ConnectionDelta d = Advance(s);
  d.opened = true;
  sink(d);
  return true;
}

void ConnectionTracker::BeginPoll() {
  ++poll_;
  closed_this_poll_.clear();
}

void ConnectionTracker::Live(const SocketSnapshot& s, const Sink& sink) {
  // A socket whose final record we already counted: the iterator read it just
  // before its close.
  if (closed_last_poll_.contains(s.cookie) || closed_this_poll_.contains(s.cookie)) {
    ++stats_.stale_ignored;
    return;
  }
  if (!graveyard_.empty() && Unbury(s, sink)) return;
  sink(Advance(s));
}

void ConnectionTracker::Closed(const SocketSnapshot& record, const Sink& sink) {
  SocketSnapshot s = record;
  if (s.cookie == 0) {
    s.cookie = MakeUnlistedCookie();  // never listed: a fresh socket, never a duplicate
  } else {
    if (!closed_this_poll_.insert(s.cookie).second) return;  // duplicate final record
    if (!graveyard_.empty() && !last_.contains(s.cookie) && Unbury(s, sink)) return;
  }
  ConnectionDelta d = Advance(s);
  last_.erase(s.cookie);
  sink(d);
}

std::size_t ConnectionTracker::EndPoll(bool complete, const Sink& sink) {
  std::size_t closed_here = 0;
  if (complete) {
    suspects_ = 0;
    for (auto it = last_.begin(); it != last_.end();) {
      Known& k = it->second;
      if (k.seen_in_poll == poll_ || ++k.missed_listings < kMissedListingsToClose) {
        if (k.seen_in_poll != poll_) ++suspects_;
        ++it;
        continue;
      }
      // Gone without a close record: close it, with no bytes (see EndPoll's comment).
      ConnectionDelta d;
      d.socket.cookie = it->first;
      d.socket.role = k.role;
      d.socket.local_ip = k.local_ip;
      d.socket.remote_ip = k.remote_ip;
      d.socket.local_port = k.local_port;
      d.socket.remote_port = k.remote_port;
      d.socket.netns = k.netns;
      d.socket.pid = k.pid;
      d.socket.cgroup_id = k.cgroup_id;
      d.socket.tcp_state = kTcpClose;
      d.socket.bytes_sent = k.sent;
      d.socket.bytes_received = k.received;
      d.socket.retransmits = k.retransmits;
      d.socket.closed = true;
      d.close_lost = true;
      if (graveyard_.size() < kGraveyardMax)
        graveyard_[it->first] = Buried{k.sent, k.received, k.retransmits, poll_};
      ++stats_.vanished;
      ++closed_here;
      last_.erase(it++);
      sink(d);
    }
  }
  if (!graveyard_.empty()) {
    absl::erase_if(graveyard_, [&](const auto& entry) {
      return poll_ - entry.second.closed_in_poll > kGraveyardPolls;
    });
  }
  std::swap(closed_last_poll_, closed_this_poll_);
  stats_.tracked = last_.size();
  return closed_here;
}

std::vector<ConnectionDelta> ConnectionTracker::Apply(const std::vector<SocketSnapshot>& closed,
                                                      const std::vector<SocketSnapshot>& live,
                                                      bool complete) {
  std::vector<ConnectionDelta> out;
  Sink collect = [&](const ConnectionDelta& d) { out.push_back(d); };
  BeginPoll();
  for (const SocketSnapshot& s : live) Live(s, collect);
  for (const SocketSnapshot& s : closed) Closed(s, collect);
  EndPoll(complete, collect);
  return out;
}

}  // namespace caretta::tracer
