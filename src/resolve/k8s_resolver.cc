#include "resolve/k8s_resolver.h"

#include <algorithm>

#include "k8s/resources.h"
#include "resolve/k8s_cgroup.h"
#include "spdlog/spdlog.h"

namespace caretta::resolve {
namespace {

void AppendEscaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
}

void AppendHeader(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

KubernetesResolver::KubernetesResolver(k8s::ClusterConfig config, KubernetesOptions options)
    : options_(std::move(options)),
      client_(std::make_shared<k8s::ApiClient>(std::move(config))),
      store_(options_.deleted_pod_retention),
      index_(ClusterIndex::Build(k8s::ClusterContents{}, {options_.traverse_up_hierarchy})),
      cgroups_(std::make_shared<const CgroupMap>()) {
  if (!options_.reflector.list_gate)
    options_.reflector.list_gate = std::make_shared<k8s::ListGate>(k8s::kMaxConcurrentLists);
  for (const k8s::WatchedResource& r : k8s::WatchedResources()) store_.Expect(r);
  // The first index is built once every resource is expected: until they list,
  // an address it does not claim may still be a pod (AddressesSynced() false).
  PublishNow();
  for (k8s::WatchedResource& r : k8s::WatchedResources())
    reflectors_.push_back(
        std::make_unique<k8s::Reflector>(client_, std::move(r), &store_, options_.reflector));
  publisher_ = std::thread([this] { PublisherLoop(); });
  spdlog::info("k8s: watching {} resources at {} ({})", reflectors_.size(),
               client_->config().server, client_->config().source);
}

KubernetesResolver::~KubernetesResolver() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (publisher_.joinable()) publisher_.join();
  reflectors_.clear();  // each interrupts its request in flight and joins
}

std::optional<Entity> KubernetesResolver::Resolve(const Endpoint& endpoint) {
  std::shared_ptr<const ClusterIndex> index = index_.load();
  if (endpoint.is_local && endpoint.cgroup_id != 0 && index->has_host_network_pods()) {
    std::shared_ptr<const CgroupMap> cgroups = cgroups_.load();
    auto it = cgroups->find(endpoint.cgroup_id);
    if (it == cgroups->end()) {
      cgroup_rescan_wanted_.store(true, std::memory_order_relaxed);  // a new cgroup
    } else if (!it->second.empty()) {
      if (const Entity* pod = index->FindHostNetworkPod(it->second)) return *pod;
    }
  }
  // After the cgroup (which names the socket's owner, so also hostNetwork clients on
  // ephemeral ports): a port a hostNetwork pod declares on its node's address, for
  // both the server's own listening end and a client's remote end.
  if (endpoint.port != 0) {
    if (const Entity* pod = index->FindHostNetworkPort(endpoint.ip, endpoint.port)) return *pod;
  }
  if (const Entity* e = index->FindByIp(endpoint.ip)) return *e;
  return std::nullopt;
}

bool KubernetesResolver::WaitSynced(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(stop_mu_);
  return stop_cv_.wait_for(lock, timeout, [this] { return synced_.load() || stop_; }) &&
         synced_.load();
}

std::vector<std::pair<std::string, const k8s::ReflectorStats*>> KubernetesResolver::ReflectorStats()
    const {
  std::vector<std::pair<std::string, const k8s::ReflectorStats*>> out;
  for (const auto& r : reflectors_) out.emplace_back(r->resource().resource, &r->stats());
  return out;
}

void KubernetesResolver::PublishNow() {
  std::lock_guard lock(publish_mu_);
  const std::uint64_t generation = store_.generation();
  auto index = store_.Read([&](const k8s::ClusterContents& contents) {
    return ClusterIndex::Build(contents, {options_.traverse_up_hierarchy});
  });
  index_.store(std::move(index));
  published_generation_ = generation;
}

void KubernetesResolver::RescanCgroups() {
  auto scanned = std::make_shared<const CgroupMap>(ScanPodCgroups(options_.cgroup_root));
  cgroups_.store(std::move(scanned));
}

void KubernetesResolver::PublisherLoop() {
  auto last_scan = std::chrono::steady_clock::time_point{};
  bool scanned_once = false;
  std::unique_lock lock(stop_mu_);
  while (!stop_) {
    stop_cv_.wait_for(lock, options_.publish_interval);
    if (stop_) break;
    lock.unlock();

    const bool all_synced = std::all_of(reflectors_.begin(), reflectors_.end(),
                                        [](const auto& r) { return r->stats().synced.load(); });
    auto expiry = store_.NextExpiry();
    const auto now = std::chrono::steady_clock::now();
    bool rebuild = store_.generation() != published_generation_ || (expiry && *expiry <= now);
    if (rebuild) PublishNow();

    const bool has_host_network = index_.load()->has_host_network_pods();
    if (has_host_network && (!scanned_once || cgroup_rescan_wanted_.exchange(false)) &&
        now - last_scan >= options_.cgroup_rescan_interval) {
      RescanCgroups();
      last_scan = now;
      scanned_once = true;
    }

    lock.lock();
    if (all_synced && !synced_) {
      synced_ = true;  // the index just published contains every initial list
      spdlog::info("k8s: initial lists done: {} IPs, {} entities, {} nodes",
                   index_.load()->ip_count(), index_.load()->entity_count(),
                   index_.load()->nodes().size());
      stop_cv_.notify_all();
    }
  }
}

void KubernetesResolver::AppendMetrics(std::string& out) const {
  auto stats = ReflectorStats();
  auto per_resource = [&](std::string_view name, std::string_view type, std::string_view help,
                          std::string_view label, auto value) {
    AppendHeader(out, name, type, help);
    for (const auto& [resource, s] : stats) {
      out += name;
      out += '{';
      out += label;
      out += "=\"";
      AppendEscaped(out, resource);
      out += "\"} ";
      out += std::to_string(value(*s));
      out += '\n';
    }
  };
  per_resource("caretta_k8s_decode_errors_total", "counter",
               "Kubernetes objects, watch events or lists that could not be decoded and were "
               "skipped.",
               "resource", [](const k8s::ReflectorStats& s) { return s.decode_errors.load(); });
  per_resource("caretta_k8s_request_errors_total", "counter",
               "Kubernetes API requests (LIST pages, watches) that failed: unreachable server, "
               "HTTP errors, bodies over their bound; each is retried with backoff.",
               "resource", [](const k8s::ReflectorStats& s) { return s.request_errors.load(); });
  // Caretta's names end in _count, which the exposition lint reserves for summaries
  // and histograms, so they are exposed untyped; both only ever increase.
  AppendHeader(out, "caretta_k8s_objects_skipped_total", "counter",
               "Kubernetes objects (LIST items, watch events) skipped, by resource and reason: "
               "invalid_json (the parser refused it: nesting, bad escapes) or malformed (no "
               "usable object).");
  for (const auto& [resource, s] : stats) {
    for (int r = 0; r < 2; ++r) {
      out += "caretta_k8s_objects_skipped_total{resource=\"";
      AppendEscaped(out, resource);
      out += "\",reason=\"";
      out += k8s::kSkipReasonNames[r];
      out += "\"} ";
      out += std::to_string(s->objects_skipped[r].load());
      out += '\n';
    }
  }
  AppendHeader(out, "caretta_k8s_limit_exceeded_total", "counter",
               "Kubernetes API answers that broke a size bound and were dropped, by resource "
               "and limit (page_bytes, list_pages, list_objects, watch_line).");
  for (const auto& [resource, s] : stats) {
    for (int b = 0; b < 4; ++b) {
      out += "caretta_k8s_limit_exceeded_total{resource=\"";
      AppendEscaped(out, resource);
      out += "\",limit=\"";
      out += k8s::kBoundNames[b];
      out += "\"} ";
      out += std::to_string(s->bound_exceeded[b].load());
      out += '\n';
    }
  }
  per_resource("caretta_k8s_resource_synced", "gauge",
               "1 once the resource's first LIST is done, else 0.", "resource",
               [](const k8s::ReflectorStats& s) { return s.synced.load() ? 1 : 0; });
  per_resource("caretta_watcher_events_count", "untyped",
               "Kubernetes watch events (ADDED, MODIFIED, DELETED) applied, by resource.",
               "object_type", [](const k8s::ReflectorStats& s) {
                 return s.added.load() + s.modified.load() + s.deleted.load();
               });
  per_resource("caretta_watcher_resets_count", "untyped",
               "Kubernetes watches restarted (stream end, 410 Gone or error), by resource.",
               "object_type", [](const k8s::ReflectorStats& s) { return s.resets.load(); });
  per_resource("caretta_k8s_relists_total", "counter",
               "Full LISTs after the first one (410 Gone), by resource.", "resource",
               [](const k8s::ReflectorStats& s) { return s.relists.load(); });

  auto index = index_.load();
  AppendHeader(out, "caretta_node_info", "gauge",
               "Kubernetes nodes with their topology zone and region (value always 1).");
  for (const NodeInfo& n : index->nodes()) {
    out += "caretta_node_info{node=\"";
    AppendEscaped(out, n.name);
    out += "\",zone=\"";
    AppendEscaped(out, n.zone);
    out += "\",region=\"";
    AppendEscaped(out, n.region);
    out += "\"} 1\n";
  }
  AppendHeader(out, "caretta_k8s_synced", "gauge",
               "1 once every initial Kubernetes LIST is done and indexed, else 0.");
  out += "caretta_k8s_synced ";
  out += synced_.load() ? "1\n" : "0\n";
  AppendHeader(out, "caretta_k8s_index_entries", "gauge",
               "IP addresses in the published Kubernetes index.");
  out += "caretta_k8s_index_entries ";
  out += std::to_string(index->ip_count());
  out += '\n';
  AppendHeader(out, "caretta_k8s_incomplete_entities", "gauge",
               "Workload names in the index that are provisional: the owner chain stops at a "
               "controller whose resource is not listed yet.");
  out += "caretta_k8s_incomplete_entities ";
  out += std::to_string(index->incomplete_entity_count());
  out += '\n';
}

std::shared_ptr<KubernetesResolver> MakeKubernetesResolver(const KubernetesOptions& options) {
  k8s::ConfigSearch search;
  search.kubeconfig = options.kubeconfig;
  search.service_account_dir = options.service_account_dir;
  search.env = options.env;
  std::optional<k8s::ClusterConfig> config = k8s::FindClusterConfig(search);
  if (!config) {
    spdlog::info(
        "k8s: no cluster found (no --kubeconfig, no KUBERNETES_SERVICE_HOST, no KUBECONFIG, "
        "no ~/.kube/config): running in host view");
    return nullptr;
  }
  return std::make_shared<KubernetesResolver>(std::move(*config), options);
}

}  // namespace caretta::resolve
