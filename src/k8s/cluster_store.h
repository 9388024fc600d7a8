// The mutable mirror of the cluster that reflectors write into (one lock, short
// critical sections). Readers of resolution never touch it: an index is built from
// it and published as an immutable snapshot (see resolve/k8s_index.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "k8s/objects.h"
#include "k8s/reflector.h"

namespace caretta::k8s {

using SteadyClock = std::function<std::chrono::steady_clock::time_point()>;

struct DeletedPod {
  PodObject pod;
  std::chrono::steady_clock::time_point deleted_at;
};

struct ClusterContents {
  template <typename T>
  using ByUid = std::unordered_map<Uid, T, UidHash>;
  ByUid<PodObject> pods;
  ByUid<NodeObject> nodes;
  ByUid<ServiceObject> services;
  ByUid<WorkloadObject> workloads;  // every controller kind, keyed by uid like ownerReferences
  ByUid<EndpointSliceObject> endpoint_slices;
  // Pods deleted less than `retention` ago, oldest first: connections that were open
  // when a pod went away are still reported for a while.
  std::vector<DeletedPod> deleted_pods;
  // Watched resources whose first LIST has not reached the store yet: what they
  // hold is unknown, not absent (see ClusterStore::Expect).
  std::vector<WatchedResource> unlisted;

  // A controller kind that is watched but not listed yet.
  bool Unlisted(std::string_view kind) const;
  // Every watched resource that carries addresses (pods, nodes, Services,
  // EndpointSlices) is listed.
  bool AddressesListed() const;
};

class ClusterStore : public ReflectorSink {
 public:
  explicit ClusterStore(std::chrono::seconds deleted_pod_retention = std::chrono::seconds(120),
                        SteadyClock clock = {});

  // Registers a resource that will be listed: until its first Replace() the index
  // treats its objects as unknown rather than absent.
  void Expect(const WatchedResource& resource);
  void Replace(const WatchedResource& resource, std::vector<Object> objects) override;
  void Upsert(const WatchedResource& resource, Object object) override;
  void Delete(const WatchedResource& resource, const Object& object) override;

  // Runs f(const ClusterContents&) under the lock, after dropping expired deleted pods.
  template <typename F>
  auto Read(F&& f) {
    std::lock_guard lock(mu_);
    ExpireLocked();
    return f(static_cast<const ClusterContents&>(contents_));
  }

  // Bumped on every change, so a publisher knows when to rebuild.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Distinct strings interned (for tests and memory accounting).
  std::size_t pooled_strings() const;
  std::size_t pooled_string_bytes() const;
  // When the oldest retained deleted pod expires (nullopt: none retained).
  std::optional<std::chrono::steady_clock::time_point> NextExpiry() const;

 private:
  std::chrono::steady_clock::time_point Now() const;
  void RetireLocked(PodObject pod);
  void ExpireLocked();
  void Bump() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  std::chrono::seconds retention_;
  SteadyClock clock_;
  mutable std::mutex mu_;
  StringPool strings_;  // every stored object's repeated strings share its copies
  ClusterContents contents_;
  std::atomic<std::uint64_t> generation_{1};
};

}  // namespace caretta::k8s
