// Resolution from the Kubernetes API: reflectors mirror pods, nodes, Services,
// EndpointSlices and controllers; one publisher thread turns that mirror into an
// immutable ClusterIndex and swaps it in atomically; Resolve() only reads snapshots.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "k8s/api_client.h"
#include "k8s/cluster_store.h"
#include "k8s/kube_config.h"
#include "k8s/reflector.h"
#include "resolve/k8s_index.h"
#include "resolve/resolver.h"

namespace caretta::resolve {

struct KubernetesOptions {
  // "" = in-cluster, then the KUBECONFIG env, then ~/.kube/config.
  std::string kubeconfig;
  bool traverse_up_hierarchy = true;
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  std::string cgroup_root = "/sys/fs/cgroup";
  // Environment lookup (injected for tests); empty = the process environment.
  std::function<std::optional<std::string>(const std::string&)> env;

  // Tuning; the defaults suit production, tests shorten them.
  std::chrono::seconds deleted_pod_retention{120};
  std::chrono::milliseconds publish_interval{200};  // at most one index rebuild per interval
  std::chrono::milliseconds cgroup_rescan_interval{2000};
  k8s::ReflectorOptions reflector;
};

class KubernetesResolver : public Resolver {
 public:
  // Starts one reflector per watched resource and the publisher thread.
  KubernetesResolver(k8s::ClusterConfig config, KubernetesOptions options);
  ~KubernetesResolver() override;  // interrupts watches and joins every thread
  KubernetesResolver(const KubernetesResolver&) = delete;
  KubernetesResolver& operator=(const KubernetesResolver&) = delete;

  // Order: a local end's pod cgroup (hostNetwork pods), then a hostNetwork pod's
  // declared (node IP, port), then the IP (node > pod > Service).
  //
  // Zone: a pod's entity carries the zone of the node it runs on (a node's its own;
  // Services and external addresses none), so replicas of one workload in different
  // zones are distinct entities here. Entity's ordering ignores `zone`, so downstream
  // (LinkTable keys, the graph) they merge into one workload whose zone is whichever
  // replica was seen first. The zone label is thus a hint for single-zone workloads,
  // not a per-replica breakdown; per-delta uses (LinkTable's cross-zone bytes) still
  // see each replica's own zone, since every Resolve() returns it.
  std::optional<Entity> Resolve(const Endpoint& endpoint) override;

  // Every initial LIST is done and its index published.
  bool Synced() const { return synced_.load(); }
  // The published index has every address-carrying resource (pods, nodes, Services,
  // EndpointSlices) listed: an address Resolve() does not claim is then not in the
  // cluster. Before, it may be a pod not known yet. Controllers may still be
  // unlisted: Resolve() marks the names that depend on them (Entity::incomplete).
  bool AddressesSynced() const { return index_.load()->addresses_listed(); }
  bool WaitSynced(std::chrono::milliseconds timeout) const;

  // caretta_k8s_decode_errors_total, caretta_k8s_request_errors_total,
  // caretta_k8s_objects_skipped_total{reason},
  // caretta_k8s_limit_exceeded_total{limit}, caretta_watcher_events_count,
  // caretta_watcher_resets_count, caretta_k8s_relists_total,
  // caretta_k8s_resource_synced, caretta_node_info, caretta_k8s_synced,
  // caretta_k8s_index_entries, caretta_k8s_incomplete_entities.
  void AppendMetrics(std::string& prometheus_text) const;

  std::shared_ptr<const ClusterIndex> index() const { return index_.load(); }
  const k8s::ClusterConfig& cluster_config() const { return client_->config(); }
  // Per-resource reflector stats, in watched_resources.json order.
  std::vector<std::pair<std::string, const k8s::ReflectorStats*>> ReflectorStats() const;
  // Rebuilds and publishes the index now (normally the publisher thread does it).
  void PublishNow();

 private:
  using CgroupMap = std::unordered_map<std::uint64_t, k8s::Uid>;
  void PublisherLoop();
  void RescanCgroups();

  KubernetesOptions options_;
  std::shared_ptr<k8s::ApiClient> client_;
  k8s::ClusterStore store_;
  std::atomic<std::shared_ptr<const ClusterIndex>> index_;
  std::atomic<std::shared_ptr<const CgroupMap>> cgroups_;
  std::atomic<bool> cgroup_rescan_wanted_{false};
  std::atomic<bool> synced_{false};
  std::mutex publish_mu_;  // serializes PublishNow (publisher thread vs. tests)
  std::uint64_t published_generation_ = 0;

  mutable std::mutex stop_mu_;
  mutable std::condition_variable stop_cv_;  // also signalled when synced
  bool stop_ = false;
  std::vector<std::unique_ptr<k8s::Reflector>> reflectors_;
  std::thread publisher_;
};

// The resolver for the cluster the options point at; nullptr (logged once) when no
// cluster configuration exists, so the agent runs in host view. Throws
// std::runtime_error (k8s::ConfigError) when a configuration exists but is broken.
std::shared_ptr<KubernetesResolver> MakeKubernetesResolver(const KubernetesOptions& options);

}  // namespace caretta::resolve
