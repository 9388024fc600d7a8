// The few fields of each watched Kubernetes object that resolution needs, decoded
// from the API's JSON with simdjson. Whole objects are never kept.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/ip_address.h"

namespace caretta::k8s {

// metadata.uid: a UUID stored as 16 bytes (other strings are hashed into 16 bytes).
struct Uid {
  std::uint64_t hi = 0, lo = 0;
  static Uid Parse(std::string_view text);
  bool empty() const { return hi == 0 && lo == 0; }
  friend bool operator==(const Uid&, const Uid&) = default;
};
struct UidHash {
  std::size_t operator()(const Uid& u) const { return u.hi ^ (u.lo * 0x9e3779b97f4a7c15ull); }
};

// The controller ownerReference (controller: true), if any.
struct OwnerRef {
  std::string kind;
  std::string name;
  Uid uid;
  bool present() const { return !name.empty(); }
};

struct PodObject {
  Uid uid;
  std::string name;
  std::string namespace_;
  std::string node_name;
  // status.podIPs (falls back to status.podIP); for hostNetwork pods also
  // status.hostIPs/hostIP, the node addresses they share.
  std::vector<common::IpAddress> ips;
  OwnerRef controller;
  // hostNetwork pods only: the TCP ports their containers declare (containerPort and
  // hostPort), which tell them apart from the node they share addresses with.
  std::vector<std::uint16_t> host_ports;
  bool host_network = false;
  bool terminated = false;  // Succeeded/Failed: its IP may already belong to another pod
};

struct NodeObject {
  Uid uid;
  std::string name;
  std::vector<common::IpAddress> addresses;  // InternalIP and ExternalIP
  std::string zone, region;                  // topology.kubernetes.io/zone|region
};

struct ServiceObject {
  Uid uid;
  std::string name;
  std::string namespace_;
  std::vector<common::IpAddress> cluster_ips;  // spec.clusterIPs without "None"
};

// ReplicaSet, Deployment, DaemonSet, StatefulSet, Job, CronJob.
struct WorkloadObject {
  Uid uid;
  std::string kind;
  std::string name;
  std::string namespace_;
  OwnerRef controller;
};

// Endpoint addresses that are not pods (selector-less Services pointing elsewhere).
struct EndpointSliceObject {
  Uid uid;
  std::string namespace_;
  std::string service_name;  // label kubernetes.io/service-name
  std::vector<common::IpAddress> external_addresses;
};

using Object =
    std::variant<PodObject, NodeObject, ServiceObject, WorkloadObject, EndpointSliceObject>;

enum class ResourceType { kPods, kNodes, kServices, kEndpointSlices, kWorkloads };

// Decodes one object of `type` (for workloads, `workload_kind` is the Kind, since list
// items carry no `kind`). On failure returns nullopt and says why in *error.
std::optional<Object> DecodeObject(ResourceType type, std::string_view workload_kind,
                                   simdjson::dom::element object, std::string* error);

// metadata.resourceVersion of any object or list (empty if absent).
std::string_view ResourceVersionOf(simdjson::dom::element object);

const Uid& UidOf(const Object& object);

}  // namespace caretta::k8s
