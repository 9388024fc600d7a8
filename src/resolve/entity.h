// The thing at one end of a link: a workload, Service, node or external host.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

namespace caretta::resolve {

struct Entity {
  std::string name;        // workload / Service / node name, DNS name, or IP
  std::string namespace_;  // Kubernetes namespace, "node" or "external"
  std::string kind;        // Deployment, StatefulSet, ..., Service, node, external
  std::string owner;       // direct controller when TRAVERSE_UP_HIERARCHY=false
  std::string zone;        // topology.kubernetes.io/zone of the node, if known
  // The name is provisional: a pod whose owner chain stops at a controller whose
  // resource has not been listed yet (API server down at start, a LIST failing) is
  // named after the last owner known, e.g. its ReplicaSet instead of its Deployment.
  // Such a name may change once that resource lists; don't export it as final.
  bool incomplete = false;

  friend bool operator==(const Entity&, const Entity&) = default;
  friend auto operator<=>(const Entity& a, const Entity& b) {
    return std::tie(a.name, a.namespace_, a.kind, a.owner) <=>
           std::tie(b.name, b.namespace_, b.kind, b.owner);
  }
};

// Longest label value exported, in bytes: Kubernetes names and DNS names are at
// most 253, so only hostile input is ever cut.
inline constexpr std::size_t kMaxLabelValueBytes = 256;

// What sanitizing changed, for the drop counters.
struct LabelRepairs {
  std::uint64_t truncated = 0;     // values cut to kMaxLabelValueBytes
  std::uint64_t invalid_utf8 = 0;  // values whose malformed bytes became U+FFFD
};

// Makes each field of `e` a safe label value: valid UTF-8 (every malformed byte
// becomes U+FFFD) of at most kMaxLabelValueBytes bytes, cut at a character
// boundary. Counts what it changed into `repairs`.
void SanitizeEntity(Entity& e, LabelRepairs& repairs);

}  // namespace caretta::resolve
