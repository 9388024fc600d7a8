// Undoes Service NAT: a client socket sees the ClusterIP as its peer, but
// kube-proxy's DNAT sent the packets to one backend. The conntrack table of the
// namespace that did the NAT (the node's root namespace in Kubernetes) holds both
// the original and the reply tuple; the reply's source is the backend. Uses
// libnetfilter_conntrack (Debian) over netlink; one handle per namespace, opened
// inside it (needs CAP_NET_ADMIN there).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/ip_address.h"

struct nfct_handle;
struct nf_conntrack;

namespace caretta::resolve {

struct Destination {
  common::IpAddress ip;
  std::uint16_t port = 0;
};

// The source of a conntrack entry's reply tuple: where a NATed connection really
// went. nullopt when the entry (a netlink message from the kernel) lacks it.
std::optional<Destination> ReplySource(const nf_conntrack* ct);

class ConntrackNat {
 public:
  // Opens a conntrack handle in each namespace (paths like /proc/1/ns/net);
  // namespaces that cannot be opened are logged and skipped.
  explicit ConntrackNat(const std::vector<std::string>& netns_paths);
  ~ConntrackNat();
  ConntrackNat(const ConntrackNat&) = delete;
  ConntrackNat& operator=(const ConntrackNat&) = delete;

  bool usable() const { return !handles_.empty(); }
  // Where a TCP connection from src:sport to dst:dport was really delivered, if a
  // namespace NATed it; nullopt when no entry or no translation.
  std::optional<Destination> RealDestination(const common::IpAddress& src, std::uint16_t sport,
                                             const common::IpAddress& dst, std::uint16_t dport);
  std::uint64_t lookups() const { return lookups_; }
  std::uint64_t translated() const { return translated_; }

 private:
  std::mutex mu_;
  std::vector<nfct_handle*> handles_;
  std::uint64_t lookups_ = 0, translated_ = 0;
};

}  // namespace caretta::resolve
