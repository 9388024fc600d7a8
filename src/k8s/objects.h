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
#include "k8s/compact.h"

namespace caretta::k8s {

// metadata.uid: a UUID stored as 16 bytes (other strings are hashed into 16 bytes).
struct Uid {
  std::uint64_t hi = 0, lo = 0;
  static Uid Parse(std::string_view text);
  bool empty() const { return hi == 0 && lo == 0; }
  friend bool operator==(const Uid&, const Uid&) = default;
};
struct UidHash {
  // noexcept: maps keyed by Uid then need not cache the hash in every node.
  std::size_t operator()(const Uid& u) const noexcept {
    return u.hi ^ (u.lo * 0x9e3779b97f4a7c15ull);
  }
};

// The controller ownerReference (controller: true), if any.
// Strings that many objects repeat are SharedStrings, interned by the ClusterStore.
struct OwnerRef {
  SharedString kind;
  SharedString name;
  Uid uid;
  bool present() const { return !name.empty(); }
};

using IpList = InlineVector<common::IpAddress, 2>;  // one per family inline
using PortList = InlineVector<std::uint16_t, 4>;

// Field order keeps it at 144 bytes (100k of them in a large cluster).
struct PodObject {
  Uid uid;
  std::string name;
  SharedString namespace_;
  SharedString node_name;
  OwnerRef controller;
  // status.podIPs (falls back to status.podIP); for hostNetwork pods also
  // status.hostIPs/hostIP, the node addresses they share.
  IpList ips;
  // hostNetwork pods only: the TCP ports their containers declare (containerPort and
  // hostPort), which tell them apart from the node they share addresses with.
  PortList host_ports;
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
  SharedString namespace_;
  std::vector<common::IpAddress> cluster_ips;  // spec.clusterIPs without "None"
};

// ReplicaSet, Deployment, DaemonSet, StatefulSet, Job, CronJob.
struct WorkloadObject {
  Uid uid;
  SharedString kind;
  SharedString name;  // shared with its pods' ownerReferences
  SharedString namespace_;
  OwnerRef controller;
};

// Endpoint addresses that are not pods (selector-less Services pointing elsewhere).
struct EndpointSliceObject {
  Uid uid;
  SharedString namespace_;
  SharedString service_name;  // label kubernetes.io/service-name
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
