// Plain-host resolution: addresses owned by this host's network namespaces are
// kind "node" (the host's name for the root namespace, the `ip netns` name for a
// named one). A background thread re-reads the namespaces every `refresh` and
// publishes an immutable snapshot; Resolve() only reads it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "resolve/resolver.h"

namespace caretta::resolve {

struct HostInventory {
  std::unordered_map<common::IpAddress, std::string, common::IpAddressHash> address_owner;
  std::unordered_map<std::uint32_t, std::string> netns_name;  // inode → name
};

// Addresses of the network namespace the calling thread is in (loopback included).
std::vector<common::IpAddress> LocalAddresses();

// Reads the inventory: the root namespace (via `proc_root`/1/ns/net) and every
// namespace bind-mounted under `netns_dir` (as `ip netns add` does). Entering a
// namespace needs CAP_SYS_ADMIN; one that cannot be entered is skipped and logged.
HostInventory ScanHost(const std::string& hostname, const std::string& proc_root,
                       const std::string& netns_dir);

class HostResolver : public Resolver {
 public:
  HostResolver(std::string hostname, std::string proc_root, std::string netns_dir,
               std::chrono::milliseconds refresh);
  ~HostResolver() override;

  std::optional<Entity> Resolve(const Endpoint& endpoint) override;
  void Refresh();  // synchronous re-scan (tests, start-up)

 private:
  void Loop();
  std::string hostname_, proc_root_, netns_dir_;
  std::chrono::milliseconds refresh_;
  std::atomic<std::shared_ptr<const HostInventory>> inventory_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace caretta::resolve
