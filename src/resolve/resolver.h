// Resolver: turns one end of a connection into an Entity. Implementations must be
// safe to call from the poll thread while their own threads update state: readers
// never block on writers (snapshots are swapped atomically).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "common/ip_address.h"
#include "resolve/entity.h"

namespace caretta::resolve {

// What the tracer knows about one end of a connection.
struct Endpoint {
  common::IpAddress ip;
  std::uint16_t port = 0;
  std::uint32_t netns = 0;      // network-namespace inode of the observing socket
  std::uint64_t cgroup_id = 0;  // cgroup v2 id of the socket's owner (0 = unknown)
  std::uint32_t pid = 0;        // process that opened it (0 = unknown)
  bool is_local = false;        // the observing socket's own end
};

class Resolver {
 public:
  virtual ~Resolver() = default;
  // Returns the entity for `endpoint`, or nullopt to let the next resolver in the
  // chain try. Must not block (no network I/O on the caller's thread).
  virtual std::optional<Entity> Resolve(const Endpoint& endpoint) = 0;
};

}  // namespace caretta::resolve
