#include "k8s/cluster_store.h"

#include <algorithm>

namespace caretta::k8s {
namespace {

void Intern(StringPool& pool, PodObject& o) {
  pool.Intern(o.namespace_);
  pool.Intern(o.node_name);
  pool.Intern(o.controller.kind);
  pool.Intern(o.controller.name);
}
void Intern(StringPool&, NodeObject&) {}
void Intern(StringPool& pool, ServiceObject& o) { pool.Intern(o.namespace_); }
void Intern(StringPool& pool, WorkloadObject& o) {
  pool.Intern(o.kind);
  pool.Intern(o.name);
  pool.Intern(o.namespace_);
  pool.Intern(o.controller.kind);
  pool.Intern(o.controller.name);
}
void Intern(StringPool& pool, EndpointSliceObject& o) {
  pool.Intern(o.namespace_);
  pool.Intern(o.service_name);
}

template <typename T>
void UpsertTyped(StringPool& pool, ClusterContents::ByUid<T>& map, Object& object) {
  if (T* typed = std::get_if<T>(&object)) {
    Intern(pool, *typed);
    map.insert_or_assign(typed->uid, std::move(*typed));
  }
}

template <typename T>
void ReplaceAll(StringPool& pool, ClusterContents::ByUid<T>& map, std::vector<Object>& objects) {
  map.clear();
  map.reserve(objects.size());
  for (Object& o : objects) UpsertTyped(pool, map, o);
}

}  // namespace

bool ClusterContents::Unlisted(std::string_view kind) const {
  return std::any_of(unlisted.begin(), unlisted.end(), [&](const WatchedResource& r) {
    return r.type == ResourceType::kWorkloads && r.kind == kind;
  });
}

bool ClusterContents::AddressesListed() const {
  return std::none_of(unlisted.begin(), unlisted.end(),
                      [](const WatchedResource& r) { return r.type != ResourceType::kWorkloads; });
}

void ClusterStore::Expect(const WatchedResource& resource) {
  std::lock_guard lock(mu_);
  auto& unlisted = contents_.unlisted;
  if (std::none_of(unlisted.begin(), unlisted.end(), [&](const WatchedResource& r) {
        return r.resource == resource.resource && r.group == resource.group;
      })) {
    unlisted.push_back(resource);
  }
  Bump();
}

ClusterStore::ClusterStore(std::chrono::seconds deleted_pod_retention, SteadyClock clock)
    : retention_(deleted_pod_retention), clock_(std::move(clock)) {}

std::chrono::steady_clock::time_point ClusterStore::Now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

void ClusterStore::RetireLocked(PodObject pod) {
  if (pod.ips.empty() || pod.host_network || retention_.count() <= 0) return;
  Intern(strings_, pod);  // a no-op unless it comes from a DELETED event
  contents_.deleted_pods.push_back(DeletedPod{std::move(pod), Now()});
}

void ClusterStore::ExpireLocked() {
  auto& deleted = contents_.deleted_pods;
  const auto cutoff = Now() - retention_;
  auto keep = std::find_if(deleted.begin(), deleted.end(),
                           [&](const DeletedPod& d) { return d.deleted_at > cutoff; });
  if (keep != deleted.begin()) {
    deleted.erase(deleted.begin(), keep);
    Bump();
  }
}

std::size_t ClusterStore::pooled_strings() const {
  std::lock_guard lock(mu_);
  return strings_.size();
}

std::size_t ClusterStore::pooled_string_bytes() const {
  std::lock_guard lock(mu_);
  return strings_.allocated_bytes();
}

std::optional<std::chrono::steady_clock::time_point> ClusterStore::NextExpiry() const {
  std::lock_guard lock(mu_);
  if (contents_.deleted_pods.empty()) return std::nullopt;
  return contents_.deleted_pods.front().deleted_at + retention_;
}

void ClusterStore::Replace(const WatchedResource& resource, std::vector<Object> objects) {
  std::lock_guard lock(mu_);
  std::erase_if(contents_.unlisted, [&](const WatchedResource& r) {
    return r.resource == resource.resource && r.group == resource.group;
  });
  switch (resource.type) {
    case ResourceType::kPods: {
      // Pods missing from a relist were deleted while we were not watching.
      ClusterContents::ByUid<PodObject> old;
      old.swap(contents_.pods);
      ReplaceAll(strings_, contents_.pods, objects);
      for (auto& [uid, pod] : old)
        if (!contents_.pods.contains(uid)) RetireLocked(std::move(pod));
      break;
    }
    case ResourceType::kNodes:
      ReplaceAll(strings_, contents_.nodes, objects);
      break;
    case ResourceType::kServices:
      ReplaceAll(strings_, contents_.services, objects);
      break;
    case ResourceType::kEndpointSlices:
      ReplaceAll(strings_, contents_.endpoint_slices, objects);
      break;
    case ResourceType::kWorkloads: {
      // Only this kind's entries are replaced: all controller kinds share the map.
      std::erase_if(contents_.workloads,
                    [&](const auto& entry) { return entry.second.kind == resource.kind; });
      for (Object& o : objects) UpsertTyped(strings_, contents_.workloads, o);
      break;
    }
  }
  Bump();
}

void ClusterStore::Upsert(const WatchedResource& resource, Object object) {
  std::lock_guard lock(mu_);
  switch (resource.type) {
    case ResourceType::kPods:
      UpsertTyped(strings_, contents_.pods, object);
      break;
    case ResourceType::kNodes:
      UpsertTyped(strings_, contents_.nodes, object);
      break;
    case ResourceType::kServices:
      UpsertTyped(strings_, contents_.services, object);
      break;
    case ResourceType::kEndpointSlices:
      UpsertTyped(strings_, contents_.endpoint_slices, object);
      break;
    case ResourceType::kWorkloads:
      UpsertTyped(strings_, contents_.workloads, object);
      break;
  }
  Bump();
}

void ClusterStore::Delete(const WatchedResource& resource, const Object& object) {
  std::lock_guard lock(mu_);
  const Uid& uid = UidOf(object);
  switch (resource.type) {
    case ResourceType::kPods: {
      auto it = contents_.pods.find(uid);
      if (it != contents_.pods.end()) {
        RetireLocked(std::move(it->second));
        contents_.pods.erase(it);
      } else if (const auto* pod = std::get_if<PodObject>(&object)) {
        RetireLocked(*pod);
      }
      break;
    }
    case ResourceType::kNodes:
      contents_.nodes.erase(uid);
      break;
    case ResourceType::kServices:
      contents_.services.erase(uid);
      break;
    case ResourceType::kEndpointSlices:
      contents_.endpoint_slices.erase(uid);
      break;
    case ResourceType::kWorkloads:
      contents_.workloads.erase(uid);
      break;
  }
  Bump();
}

}  // namespace caretta::k8s
