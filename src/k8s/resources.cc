#include "k8s/resources.h"

#include <simdjson.h>

#include <stdexcept>

namespace caretta::k8s {
namespace {

struct KnownResource {
  std::string_view group, resource, kind;
  ResourceType type;
  std::vector<std::string> fallback_versions;
};

// What the decoder knows how to read; the JSON decides what is watched.
const std::vector<KnownResource>& Known() {
  static const std::vector<KnownResource> known = {
      {"", "pods", "Pod", ResourceType::kPods, {}},
      {"", "nodes", "Node", ResourceType::kNodes, {}},
      {"", "services", "Service", ResourceType::kServices, {}},
      {"discovery.k8s.io", "endpointslices", "EndpointSlice", ResourceType::kEndpointSlices, {}},
      {"apps", "replicasets", "ReplicaSet", ResourceType::kWorkloads, {}},
      {"apps", "deployments", "Deployment", ResourceType::kWorkloads, {}},
      {"apps", "daemonsets", "DaemonSet", ResourceType::kWorkloads, {}},
      {"apps", "statefulsets", "StatefulSet", ResourceType::kWorkloads, {}},
      {"batch", "jobs", "Job", ResourceType::kWorkloads, {}},
      // batch/v1 CronJob arrived in Kubernetes 1.21.
      {"batch", "cronjobs", "CronJob", ResourceType::kWorkloads, {"v1beta1"}},
  };
  return known;
}

}  // namespace

std::string WatchedResource::CollectionPath(const std::string& api_version) const {
  if (group.empty()) return "/api/" + api_version + "/" + resource;
  return "/apis/" + group + "/" + api_version + "/" + resource;
}

std::vector<WatchedResource> WatchedResources() {
  simdjson::dom::parser parser;
  const std::string_view text = EmbeddedWatchedResourcesJson();
  simdjson::padded_string padded(text);
  simdjson::dom::array entries;
  if (parser.parse(padded).get_array().get(entries) != simdjson::SUCCESS)
    throw std::runtime_error("watched_resources.json: not a JSON array");
  std::vector<WatchedResource> out;
  for (simdjson::dom::element e : entries) {
    std::string_view group, version, resource;
    if (e["group"].get_string().get(group) != simdjson::SUCCESS ||
        e["version"].get_string().get(version) != simdjson::SUCCESS ||
        e["resource"].get_string().get(resource) != simdjson::SUCCESS) {
      throw std::runtime_error("watched_resources.json: entry without group/version/resource");
    }
    const KnownResource* match = nullptr;
    for (const KnownResource& k : Known())
      if (k.group == group && k.resource == resource) match = &k;
    if (match == nullptr) {
      throw std::runtime_error("watched_resources.json: no decoder for " + std::string(group) +
                               "/" + std::string(resource));
    }
    WatchedResource w;
    w.group = group;
    w.version = version;
    w.resource = resource;
    w.kind = match->kind;
    w.type = match->type;
    for (const std::string& v : match->fallback_versions)
      if (v != version) w.fallback_versions.push_back(v);
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace caretta::k8s
