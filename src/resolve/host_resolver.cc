#include "resolve/host_resolver.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <array>
#include <cstring>
#include <vector>

#include "common/netns.h"
#include "spdlog/spdlog.h"

namespace caretta::resolve {
std::vector<common::IpAddress> LocalAddresses() {
  std::vector<common::IpAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr) continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      out.push_back(
          common::IpAddress::V4(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr));
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      std::array<std::uint8_t, 16> b;
      std::memcpy(b.data(), &reinterpret_cast<sockaddr_in6*>(a->ifa_addr)->sin6_addr, 16);
      out.push_back(common::IpAddress::V6(b));
    }
  }
  freeifaddrs(list);
  return out;
}

HostInventory ScanHost(const std::string& hostname, const std::string& proc_root,
                       const std::string& netns_dir) {
  HostInventory inv;
  for (const common::NetnsRef& ns : common::EnumerateNetns(proc_root, netns_dir, false)) {
    std::string name = ns.name.empty() ? hostname : ns.name;
    inv.netns_name[ns.inode] = name;
    std::vector<common::IpAddress> addresses;
    std::string error;
    if (!common::RunInNetns(
            ns.path, [&] { addresses = LocalAddresses(); }, &error)) {
      spdlog::debug("host: {}", error);
      continue;
    }
    for (const common::IpAddress& ip : addresses)
      if (!ip.is_loopback()) inv.address_owner.emplace(ip, name);
  }
  return inv;
}

HostResolver::HostResolver(std::string hostname, std::string proc_root, std::string netns_dir,
                           std::chrono::milliseconds refresh)
    : hostname_(std::move(hostname)),
      proc_root_(std::move(proc_root)),
      netns_dir_(std::move(netns_dir)),
      refresh_(refresh) {
  Refresh();
  thread_ = std::thread([this] { Loop(); });
}

HostResolver::~HostResolver() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void HostResolver::Refresh() {
  inventory_.store(
      std::make_shared<const HostInventory>(ScanHost(hostname_, proc_root_, netns_dir_)));
}

void HostResolver::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, refresh_, [this] { return stop_; })) {
    lock.unlock();
    Refresh();
    lock.lock();
  }
}

std::optional<Entity> HostResolver::Resolve(const Endpoint& endpoint) {
  auto inv = inventory_.load();
  if (endpoint.is_local && endpoint.netns != 0) {
    if (auto it = inv->netns_name.find(endpoint.netns); it != inv->netns_name.end())
      return Entity{it->second, "node", "node", "", ""};
  }
  if (auto it = inv->address_owner.find(endpoint.ip); it != inv->address_owner.end())
    return Entity{it->second, "node", "node", "", ""};
  return std::nullopt;
}

}  // namespace caretta::resolve
