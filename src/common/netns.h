// Network namespaces of this host, and running code inside one of them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace caretta::common {

struct NetnsRef {
  std::string path;  // e.g. /proc/1/ns/net or /var/run/netns/blue
  std::string name;  // "" for the root namespace and unnamed (process) ones
  std::uint32_t inode = 0;
};

// The root namespace (`proc_root`/1/ns/net) first, then every namespace
// bind-mounted in `netns_dir` (as `ip netns add` does), then, with
// `include_processes`, those of running processes (containers, pods). Each
// namespace appears once.
std::vector<NetnsRef> EnumerateNetns(const std::string& proc_root, const std::string& netns_dir,
                                     bool include_processes);

// Runs `fn` on a short-lived thread that has entered the namespace at `path`, so
// the caller's own namespace never changes. Returns false (with `error` set) when
// the namespace cannot be entered (needs CAP_SYS_ADMIN).
bool RunInNetns(const std::string& path, const std::function<void()>& fn, std::string* error);

}  // namespace caretta::common
