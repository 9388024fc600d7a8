// Connection samples produced by the tracer, one per socket per poll.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/ip_address.h"

namespace caretta::tracer {

enum class Role : std::uint8_t { kUnknown = 0, kClient = 1, kServer = 2 };

// Where one socket stands, as the kernel reported it (data bytes only: the SYN and
// FIN sequence numbers are already taken out).
struct SocketSnapshot {
  std::uint64_t cookie = 0;
  Role role = Role::kUnknown;
  common::IpAddress local_ip, remote_ip;
  std::uint16_t local_port = 0, remote_port = 0;
  std::uint32_t netns = 0;
  std::uint32_t pid = 0;
  std::uint64_t cgroup_id = 0;
  std::uint8_t tcp_state = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint32_t retransmits = 0;
  bool closed = false;  // final record, the socket is gone
  bool failed = false;  // connect that never established
};

// What changed for one socket since the previous poll.
struct ConnectionDelta {
  SocketSnapshot socket;  // latest snapshot
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint32_t retransmits = 0;
  bool opened = false;  // first time this socket is reported
  // How many sockets this delta stands for: more than one for closes the kernel
  // folded per link (they have no local port on the client side).
  std::uint32_t sockets = 1;
  // Closed by the tracker: the socket was gone without its close record (ring
  // buffer full, or a state change the kernel did not run the hook for). Its bytes
  // since its last listing are not in this delta.
  bool close_lost = false;
};

}  // namespace caretta::tracer
