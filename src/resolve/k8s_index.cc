#include "resolve/k8s_index.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

namespace caretta::resolve {
namespace {

// Dedupes identical entities; the key separates fields with '\0', which no
// Kubernetes name contains.
class EntityTable {
 public:
  explicit EntityTable(std::vector<Entity>* entities) : entities_(entities) {}
  std::uint32_t Intern(Entity e) {
    std::string key;
    key.reserve(e.name.size() + e.namespace_.size() + e.kind.size() + e.owner.size() +
                e.zone.size() + 4);
    for (const std::string* f : {&e.name, &e.namespace_, &e.kind, &e.owner, &e.zone}) {
      key += *f;
      key.push_back('\0');
    }
    key.push_back(e.incomplete ? '1' : '0');
    auto [it, inserted] = ids_.try_emplace(std::move(key), 0);
    if (inserted) {
      it->second = static_cast<std::uint32_t>(entities_->size());
      entities_->push_back(std::move(e));
    }
    return it->second;
  }

 private:
  std::vector<Entity>* entities_;
  std::unordered_map<std::string, std::uint32_t> ids_;
};

std::uint64_t Mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

std::uint32_t V4Key(const common::IpAddress& ip) {
  std::uint32_t addr;
  std::memcpy(&addr, ip.bytes().data(), sizeof addr);
  return addr;
}

std::uint64_t V6Hash(const std::array<std::uint8_t, 16>& addr) {
  std::uint64_t hi, lo;
  std::memcpy(&hi, addr.data(), 8);
  std::memcpy(&lo, addr.data() + 8, 8);
  return Mix(hi ^ Mix(lo));
}

bool SameKey(std::uint32_t a, std::uint32_t b) { return a == b; }
bool SameKey(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b) {
  return a == b;
}

}  // namespace

template <typename Slot, typename Key>
void ClusterIndex::IpTable::Put(Table<Slot>& t, const Key& key, std::uint64_t hash,
                                std::uint32_t id) {
  if ((t.used + 1) * 5 > t.slots.size() * 4) {  // keep ≤ 80 % full
    std::vector<Slot> old =
        std::exchange(t.slots, std::vector<Slot>(std::max<std::size_t>(16, 2 * t.slots.size())));
    t.used = 0;
    for (const Slot& s : old) {
      if (s.id == kEmpty) continue;
      std::uint64_t h;
      if constexpr (std::is_same_v<Key, std::uint32_t>) {
        h = Mix(s.addr);
      } else {
        h = V6Hash(s.addr);
      }
      Put(t, s.addr, h, s.id);
    }
  }
  const std::size_t mask = t.slots.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    Slot& slot = t.slots[i];
    if (slot.id == kEmpty) {
      slot.addr = key;
      slot.id = id;
      ++t.used;
      return;
    }
    if (SameKey(slot.addr, key)) {
      slot.id = id;
      return;
    }
  }
}

template <typename Slot, typename Key>
const std::uint32_t* ClusterIndex::IpTable::Get(const Table<Slot>& t, const Key& key,
                                                std::uint64_t hash) {
  if (t.used == 0) return nullptr;
  const std::size_t mask = t.slots.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = t.slots[i];
    if (slot.id == kEmpty) return nullptr;
    if (SameKey(slot.addr, key)) return &slot.id;
  }
}

void ClusterIndex::IpTable::Assign(const common::IpAddress& ip, std::uint32_t id) {
  if (ip.is_v4()) {
    const std::uint32_t key = V4Key(ip);
    Put(v4_, key, Mix(key), id);
  } else if (ip.is_v6()) {
    Put(v6_, ip.bytes(), V6Hash(ip.bytes()), id);
  }
}

const std::uint32_t* ClusterIndex::IpTable::Find(const common::IpAddress& ip) const {
  if (ip.is_v4()) {
    const std::uint32_t key = V4Key(ip);
    return Get(v4_, key, Mix(key));
  }
  if (ip.is_v6()) return Get(v6_, ip.bytes(), V6Hash(ip.bytes()));
  return nullptr;
}

std::size_t ClusterIndex::IpTable::allocated_bytes() const {
  return v4_.slots.capacity() * sizeof(V4Slot) + v6_.slots.capacity() * sizeof(V6Slot);
}

Entity ClusterIndex::PodEntity(const k8s::PodObject& pod, const k8s::ClusterContents& contents,
                               const IndexOptions& options, const std::string& zone) {
  Entity e{pod.name, pod.namespace_.str(), "Pod", "", zone};
  if (!pod.controller.present()) return e;
  if (!options.traverse_up_hierarchy) {
    e.owner = pod.controller.kind.str() + "/" + pod.controller.name.str();
    return e;
  }
  // Climb controller references while the owner is known; an owner not seen yet
  // leaves the deepest known level (the next rebuild climbs further). If that
  // owner's kind has not been listed yet, the name is provisional.
  const k8s::OwnerRef* ref = &pod.controller;
  for (int depth = 0; ref != nullptr && ref->present() && depth < 8; ++depth) {
    e.name = ref->name.view();
    e.kind = ref->kind.view();
    auto owner = contents.workloads.find(ref->uid);
    if (owner == contents.workloads.end()) {
      e.incomplete = contents.Unlisted(ref->kind);
      break;
    }
    ref = &owner->second.controller;
  }
  return e;
}

std::shared_ptr<const ClusterIndex> ClusterIndex::Build(const k8s::ClusterContents& contents,
                                                        const IndexOptions& options) {
  auto index = std::make_shared<ClusterIndex>();
  EntityTable table(&index->entities_);
  std::unordered_map<std::string_view, const k8s::NodeObject*> node_by_name;
  node_by_name.reserve(contents.nodes.size());
  for (const auto& [uid, node] : contents.nodes) {
    node_by_name.emplace(node.name, &node);
    index->nodes_.push_back(NodeInfo{node.name, node.zone, node.region});
  }
  std::sort(index->nodes_.begin(), index->nodes_.end(),
            [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
  auto zone_for = [&](std::string_view node_name) -> const std::string& {
    static const std::string kNone;
    auto it = node_by_name.find(node_name);
    return it == node_by_name.end() ? kNone : it->second->zone;
  };

  auto& by_ip = index->by_ip_;
  // Lowest precedence first; later inserts overwrite.
  for (const auto& [uid, slice] : contents.endpoint_slices) {
    if (slice.service_name.empty() || slice.external_addresses.empty()) continue;
    std::uint32_t id =
        table.Intern(Entity{slice.service_name.str(), slice.namespace_.str(), "Service", "", ""});
    for (const auto& ip : slice.external_addresses) by_ip.Assign(ip, id);
  }
  for (const auto& [uid, svc] : contents.services) {
    if (svc.cluster_ips.empty()) continue;
    std::uint32_t id = table.Intern(Entity{svc.name, svc.namespace_.str(), "Service", "", ""});
    for (const auto& ip : svc.cluster_ips) by_ip.Assign(ip, id);
  }
  auto add_pod = [&](const k8s::PodObject& pod) {
    std::uint32_t id = table.Intern(PodEntity(pod, contents, options, zone_for(pod.node_name)));
    for (const auto& ip : pod.ips) by_ip.Assign(ip, id);
  };
  for (const k8s::DeletedPod& d : contents.deleted_pods) add_pod(d.pod);
  for (const auto& [uid, pod] : contents.pods)
    if (pod.terminated && !pod.host_network) add_pod(pod);
  // A hostNetwork pod owns each port it declares on every address of its node (the
  // node's own list and the pod's host IPs, both families); live pods beat finished.
  auto add_host_ports = [&](const k8s::PodObject& pod, std::uint32_t id) {
    if (pod.host_ports.empty()) return;
    auto claim = [&](const common::IpAddress& ip) {
      for (std::uint16_t port : pod.host_ports) index->host_ports_.insert_or_assign({ip, port}, id);
    };
    for (const auto& ip : pod.ips) claim(ip);
    auto node = node_by_name.find(pod.node_name);
    if (node == node_by_name.end()) return;
    for (const auto& ip : node->second->addresses) claim(ip);
  };
  for (int live = 0; live < 2; ++live) {
    for (const auto& [uid, pod] : contents.pods) {
      if (!pod.host_network || pod.terminated == (live == 1)) continue;
      std::uint32_t id = table.Intern(PodEntity(pod, contents, options, zone_for(pod.node_name)));
      index->host_network_pods_.insert_or_assign(uid, id);
      add_host_ports(pod, id);
    }
  }
  for (const auto& [uid, pod] : contents.pods)
    if (!pod.host_network && !pod.terminated) add_pod(pod);
  for (const auto& [uid, node] : contents.nodes) {
    std::uint32_t id = table.Intern(Entity{node.name, "node", "node", "", node.zone});
    for (const auto& ip : node.addresses) by_ip.Assign(ip, id);
  }
  index->entities_.shrink_to_fit();
  index->addresses_listed_ = contents.AddressesListed();
  for (const Entity& e : index->entities_) index->incomplete_entities_ += e.incomplete ? 1 : 0;
  return index;
}

const Entity* ClusterIndex::FindByIp(const common::IpAddress& ip) const {
  const std::uint32_t* id = by_ip_.Find(ip);
  return id == nullptr ? nullptr : &entities_[*id];
}

const Entity* ClusterIndex::FindHostNetworkPort(const common::IpAddress& ip,
                                                std::uint16_t port) const {
  if (host_ports_.empty()) return nullptr;
  auto it = host_ports_.find({ip, port});
  return it == host_ports_.end() ? nullptr : &entities_[it->second];
}

const Entity* ClusterIndex::FindHostNetworkPod(const k8s::Uid& pod_uid) const {
  auto it = host_network_pods_.find(pod_uid);
  return it == host_network_pods_.end() ? nullptr : &entities_[it->second];
}

}  // namespace caretta::resolve
