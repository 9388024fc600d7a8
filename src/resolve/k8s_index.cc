#include "resolve/k8s_index.h"

#include <algorithm>

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

}  // namespace

Entity ClusterIndex::PodEntity(const k8s::PodObject& pod, const k8s::ClusterContents& contents,
                               const IndexOptions& options, const std::string& zone) {
  Entity e{pod.name, pod.namespace_, "Pod", "", zone};
  if (!pod.controller.present()) return e;
  if (!options.traverse_up_hierarchy) {
    e.owner = pod.controller.kind + "/" + pod.controller.name;
    return e;
  }
  // Climb controller references while the owner is known; an owner not seen yet
  // leaves the deepest known level (the next rebuild climbs further).
  const k8s::OwnerRef* ref = &pod.controller;
  for (int depth = 0; ref != nullptr && ref->present() && depth < 8; ++depth) {
    e.name = ref->name;
    e.kind = ref->kind;
    auto owner = contents.workloads.find(ref->uid);
    if (owner == contents.workloads.end()) break;
    ref = &owner->second.controller;
  }
  return e;
}

std::shared_ptr<const ClusterIndex> ClusterIndex::Build(const k8s::ClusterContents& contents,
                                                        const IndexOptions& options) {
  auto index = std::make_shared<ClusterIndex>();
  EntityTable table(&index->entities_);
  std::unordered_map<std::string, const k8s::NodeObject*> node_by_name;
  node_by_name.reserve(contents.nodes.size());
  for (const auto& [uid, node] : contents.nodes) {
    node_by_name.emplace(node.name, &node);
    index->nodes_.push_back(NodeInfo{node.name, node.zone, node.region});
  }
  std::sort(index->nodes_.begin(), index->nodes_.end(),
            [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
  auto zone_for = [&](const std::string& node_name) -> const std::string& {
    static const std::string kNone;
    auto it = node_by_name.find(node_name);
    return it == node_by_name.end() ? kNone : it->second->zone;
  };

  auto& by_ip = index->by_ip_;
  by_ip.reserve(contents.pods.size() + contents.services.size() + contents.nodes.size() +
                contents.deleted_pods.size());
  // Lowest precedence first; later inserts overwrite.
  for (const auto& [uid, slice] : contents.endpoint_slices) {
    if (slice.service_name.empty() || slice.external_addresses.empty()) continue;
    std::uint32_t id =
        table.Intern(Entity{slice.service_name, slice.namespace_, "Service", "", ""});
    for (const auto& ip : slice.external_addresses) by_ip.insert_or_assign(ip, id);
  }
  for (const auto& [uid, svc] : contents.services) {
    if (svc.cluster_ips.empty()) continue;
    std::uint32_t id = table.Intern(Entity{svc.name, svc.namespace_, "Service", "", ""});
    for (const auto& ip : svc.cluster_ips) by_ip.insert_or_assign(ip, id);
  }
  auto add_pod = [&](const k8s::PodObject& pod) {
    std::uint32_t id = table.Intern(PodEntity(pod, contents, options, zone_for(pod.node_name)));
    for (const auto& ip : pod.ips) by_ip.insert_or_assign(ip, id);
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
    for (const auto& ip : node.addresses) by_ip.insert_or_assign(ip, id);
  }
  return index;
}

const Entity* ClusterIndex::FindByIp(const common::IpAddress& ip) const {
  auto it = by_ip_.find(ip);
  return it == by_ip_.end() ? nullptr : &entities_[it->second];
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
