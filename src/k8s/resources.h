// The resources the agent lists and watches. src/k8s/watched_resources.json is the
// single source of truth (the Helm chart's RBAC is generated from it); it is embedded
// into the binary at build time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "k8s/objects.h"

namespace caretta::k8s {

struct WatchedResource {
  std::string group;     // "" for the core group
  std::string version;   // preferred version
  std::string resource;  // plural, e.g. "pods"; also the metrics label
  std::string kind;      // e.g. "Pod"
  ResourceType type = ResourceType::kWorkloads;
  std::vector<std::string> fallback_versions;  // tried when the API lacks `version`

  // Cluster-wide collection path, e.g. /api/v1/pods, /apis/apps/v1/replicasets.
  std::string CollectionPath(const std::string& api_version) const;
};

std::string_view EmbeddedWatchedResourcesJson();

// Parses the embedded list; throws std::runtime_error on an entry it cannot decode.
std::vector<WatchedResource> WatchedResources();

}  // namespace caretta::k8s
