// The immutable Kubernetes index that resolution reads: built from the cluster store
// by one writer and published as a snapshot; lookups never lock.
//
// Precedence on the same IP (as Caretta): node beats pod beats Service. Retained
// deleted/finished pods lose to any live pod with the same IP (IP reuse guard).
// hostNetwork pods are not indexed by IP alone (they share the node's) but by
// (node IP, declared port), which beats the node, and by UID for the cgroup lookup.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/ip_address.h"
#include "k8s/cluster_store.h"
#include "resolve/entity.h"

namespace caretta::resolve {

struct IndexOptions {
  bool traverse_up_hierarchy = true;
};

struct NodeInfo {
  std::string name, zone, region;
};

class ClusterIndex {
 public:
  static std::shared_ptr<const ClusterIndex> Build(const k8s::ClusterContents& contents,
                                                   const IndexOptions& options);

  const Entity* FindByIp(const common::IpAddress& ip) const;
  const Entity* FindHostNetworkPod(const k8s::Uid& pod_uid) const;
  // The hostNetwork pod that declares TCP `port` on node address `ip`, if any.
  const Entity* FindHostNetworkPort(const common::IpAddress& ip, std::uint16_t port) const;
  const std::vector<NodeInfo>& nodes() const { return nodes_; }
  std::size_t ip_count() const { return by_ip_.size(); }
  std::size_t ip_table_bytes() const { return by_ip_.allocated_bytes(); }
  bool has_host_network_pods() const { return !host_network_pods_.empty(); }
  std::size_t entity_count() const { return entities_.size(); }
  // Entities whose name is provisional (Entity::incomplete).
  std::size_t incomplete_entity_count() const { return incomplete_entities_; }
  // Pods, nodes, Services and EndpointSlices were all listed when this was built:
  // an address not found is then not in the cluster (else it may be, unknown yet).
  bool addresses_listed() const { return addresses_listed_; }

  // The entity a pod resolves to (exposed for tests).
  static Entity PodEntity(const k8s::PodObject& pod, const k8s::ClusterContents& contents,
                          const IndexOptions& options, const std::string& zone);

 private:
  // IP → entity id: open addressing, linear probing, one 8-byte slot per IPv4 address
  // (20 bytes per IPv6) instead of a std::unordered_map's ≈56 bytes per entry.
  class IpTable {
   public:
    void Assign(const common::IpAddress& ip, std::uint32_t id);  // insert or overwrite
    const std::uint32_t* Find(const common::IpAddress& ip) const;
    std::size_t size() const { return v4_.used + v6_.used; }
    std::size_t allocated_bytes() const;

   private:
    static constexpr std::uint32_t kEmpty = ~0u;
    struct V4Slot {
      std::uint32_t addr = 0;
      std::uint32_t id = kEmpty;
    };
    struct V6Slot {
      std::array<std::uint8_t, 16> addr{};
      std::uint32_t id = kEmpty;
    };
    template <typename Slot>
    struct Table {
      std::vector<Slot> slots;  // power-of-two size, at most 80 % used
      std::size_t used = 0;
    };
    template <typename Slot, typename Key>
    static void Put(Table<Slot>& t, const Key& key, std::uint64_t hash, std::uint32_t id);
    template <typename Slot, typename Key>
    static const std::uint32_t* Get(const Table<Slot>& t, const Key& key, std::uint64_t hash);
    Table<V4Slot> v4_;
    Table<V6Slot> v6_;
  };

  std::vector<Entity> entities_;  // shared by all pods of one workload in one zone
  IpTable by_ip_;
  std::unordered_map<k8s::Uid, std::uint32_t, k8s::UidHash> host_network_pods_;
  struct IpPort {
    common::IpAddress ip;
    std::uint16_t port;
    friend bool operator==(const IpPort&, const IpPort&) = default;
  };
  struct IpPortHash {
    std::size_t operator()(const IpPort& k) const noexcept {
      return common::IpAddressHash{}(k.ip) ^ (k.port * 0x9e3779b97f4a7c15ull);
    }
  };
  std::unordered_map<IpPort, std::uint32_t, IpPortHash> host_ports_;
  std::vector<NodeInfo> nodes_;  // sorted by name
  std::size_t incomplete_entities_ = 0;
  bool addresses_listed_ = true;
};

}  // namespace caretta::resolve
