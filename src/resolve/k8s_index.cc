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
  std::unordered_map<std::string, std::string> zone_of_node;
  zone_of_node.reserve(contents.nodes.size());
  for (const auto& [uid, node] : contents.nodes) {
    zone_of_node.emplace(node.name, node.zone);
    index->nodes_.push_back(NodeInfo{node.name, node.zone, node.region});
  }
  std::sort(index->nodes_.begin(), index->nodes_.end(),
            [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
  auto zone_for = [&](const std::string& node_name) -> const std::string& {
    static const std::string kNone;
    auto it = zone_of_node.find(node_name);
    return it == zone_of_node.end() ? kNone : it->second;
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
  for (const auto& [uid, pod] : contents.pods) {
    if (pod.host_network) {
      index->host_network_pods_.emplace(
          uid, table.Intern(PodEntity(pod, contents, options, zone_for(pod.node_name))));
    } else if (!pod.terminated) {
      add_pod(pod);
    }
  }
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

const Entity* ClusterIndex::FindHostNetworkPod(const k8s::Uid& pod_uid) const {
  auto it = host_network_pods_.find(pod_uid);
  return it == host_network_pods_.end() ? nullptr : &entities_[it->second];
}

}  // namespace caretta::resolve
