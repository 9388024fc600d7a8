// Reverse DNS for external addresses (RESOLVE_DNS=true). Never blocks the caller:
// a miss queues the address for a worker thread and answers nullopt (the IP is
// used until the name is known). Cache and queue are bounded; what does not fit
// is counted and skipped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "resolve/resolver.h"

namespace caretta::resolve {

// A PTR answer as a host name for labels: lower case, without the trailing dot;
// nullopt unless it is a valid name (labels of letters, digits, '-' and '_', at
// most 63 bytes each and 253 in all). The root name "." and empty answers are none.
std::optional<std::string> NormalizeHostName(std::string_view answer);

class DnsResolver : public Resolver {
 public:
  // Lookup returns the name for an address, or nullopt. Injected for tests; the
  // default uses getnameinfo(NI_NAMEREQD).
  using Lookup = std::function<std::optional<std::string>(const common::IpAddress&)>;
  struct Options {
    std::size_t max_cache = 10000;
    std::size_t max_queue = 1024;
    std::chrono::seconds positive_ttl{600};
    std::chrono::seconds negative_ttl{60};
  };
  struct Stats {
    std::uint64_t lookups = 0, hits = 0, failures = 0, queue_full = 0, cache_evictions = 0;
    std::uint64_t bad_names = 0;  // answers that were no usable host name (dropped)
  };

  DnsResolver(Options options, Lookup lookup = {});
  ~DnsResolver() override;

  std::optional<Entity> Resolve(const Endpoint& endpoint) override;
  Stats stats() const;
  // A lookup for `ip` is queued or running (its name may be known next poll).
  bool Pending(const common::IpAddress& ip) const;
  // Blocks until the queue is empty (tests).
  void Drain();

 private:
  struct Entry {
    std::optional<std::string> name;
    std::chrono::steady_clock::time_point expires;
  };
  void Loop();

  Options options_;
  Lookup lookup_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::unordered_map<common::IpAddress, Entry, common::IpAddressHash> cache_;
  std::deque<common::IpAddress> queue_;
  std::unordered_set<common::IpAddress, common::IpAddressHash> queued_;
  bool busy_ = false;
  bool stop_ = false;
  Stats stats_;
  std::thread thread_;
};

std::optional<std::string> SystemReverseLookup(const common::IpAddress& ip);

// A Lookup that sends PTR queries to one DNS server ("IP" or "IP:PORT", IPv6 in
// brackets) instead of the system resolver, through c-ares. Throws
// std::invalid_argument for a malformed server.
DnsResolver::Lookup ServerReverseLookup(
    const std::string& server, std::chrono::milliseconds timeout = std::chrono::seconds(2));

}  // namespace caretta::resolve
