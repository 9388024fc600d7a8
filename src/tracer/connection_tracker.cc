#include "tracer/connection_tracker.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace caretta::tracer {
namespace {

constexpr std::uint16_t kAfInet = 2;

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
  Totals& t = it->second;
  d.opened = inserted;
  // Totals only move forward: a counter that reads lower (a racing read of the FIN
  // accounting) is held at its previous value.
  d.sent = s.bytes_sent > t.sent ? s.bytes_sent - t.sent : 0;
  d.received = s.bytes_received > t.received ? s.bytes_received - t.received : 0;
  d.retransmits = s.retransmits > t.retransmits ? s.retransmits - t.retransmits : 0;
  t.sent = std::max(t.sent, s.bytes_sent);
  t.received = std::max(t.received, s.bytes_received);
  t.retransmits = std::max(t.retransmits, s.retransmits);
  t.seen_in_poll = poll_;
  return d;
}

void ConnectionTracker::BeginPoll() {
  ++poll_;
  closed_this_poll_.clear();
}

void ConnectionTracker::Live(const SocketSnapshot& s, const Sink& sink) {
  // A socket whose final record we already counted: the iterator read it just
  // before its close.
  if (closed_last_poll_.contains(s.cookie)) {
    ++stats_.stale_ignored;
    return;
  }
  sink(Advance(s));
}

void ConnectionTracker::Closed(const SocketSnapshot& record, const Sink& sink) {
  SocketSnapshot s = record;
  if (s.cookie == 0)
    s.cookie = MakeUnlistedCookie();  // never listed: a fresh socket, never a duplicate
  else if (!closed_this_poll_.insert(s.cookie).second)
    return;  // duplicate final record
  ConnectionDelta d = Advance(s);
  last_.erase(s.cookie);
  sink(d);
}

void ConnectionTracker::EndPoll(bool complete) {
  if (complete) {
    absl::erase_if(last_, [&](const auto& entry) {
      if (entry.second.seen_in_poll == poll_) return false;
      ++stats_.vanished;
      return true;
    });
  }
  std::swap(closed_last_poll_, closed_this_poll_);
  stats_.tracked = last_.size();
}

std::vector<ConnectionDelta> ConnectionTracker::Apply(const std::vector<SocketSnapshot>& closed,
                                                      const std::vector<SocketSnapshot>& live,
                                                      bool complete) {
  std::vector<ConnectionDelta> out;
  Sink collect = [&](const ConnectionDelta& d) { out.push_back(d); };
  BeginPoll();
  for (const SocketSnapshot& s : live) Live(s, collect);
  for (const SocketSnapshot& s : closed) Closed(s, collect);
  EndPoll(complete);
  return out;
}

std::string_view TcpStateName(std::uint8_t state) {
  static constexpr std::string_view kNames[] = {
      "UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",
      "CLOSE",   "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV"};
  return state < std::size(kNames) ? kNames[state] : "UNKNOWN";
}

}  // namespace caretta::tracer
