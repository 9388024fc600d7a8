#include "k8s/objects.h"

#include <algorithm>

namespace caretta::k8s {
namespace {

using simdjson::dom::element;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::uint64_t Fnv1a(std::string_view s, std::uint64_t seed) {
  std::uint64_t h = seed;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Field access that tolerates absence and wrong types (the caller decides).
std::string_view Str(simdjson::simdjson_result<element> e, std::string_view key) {
  std::string_view out;
  if (e[key].get_string().get(out) != simdjson::SUCCESS) return {};
  return out;
}
std::string_view Str(element e, std::string_view key) {
  return Str(simdjson::simdjson_result<element>(element(e)), key);
}

bool Bool(element e, std::string_view key) {
  bool out = false;
  if (e[key].get_bool().get(out) != simdjson::SUCCESS) return false;
  return out;
}

template <typename List>
void AppendIp(List& ips, std::string_view text) {
  if (text.empty() || text == "None") return;
  auto ip = common::IpAddress::Parse(text);
  if (!ip) return;
  for (const auto& existing : ips)
    if (existing == *ip) return;
  ips.push_back(*ip);
}

// metadata with a string name; anything else makes the object malformed.
bool Metadata(element object, element* metadata, std::string* error) {
  simdjson::dom::object obj;
  if (object.get_object().get(obj) != simdjson::SUCCESS) {
    *error = "object is not a JSON object";
    return false;
  }
  if (object["metadata"].get(*metadata) != simdjson::SUCCESS || !metadata->is_object()) {
    *error = "metadata missing or not an object";
    return false;
  }
  if (Str(*metadata, "name").empty()) {
    *error = "metadata.name missing";
    return false;
  }
  return true;
}

OwnerRef ControllerOf(element metadata) {
  OwnerRef ref;
  simdjson::dom::array owners;
  if (metadata["ownerReferences"].get_array().get(owners) != simdjson::SUCCESS) return ref;
  for (element o : owners) {
    if (!Bool(o, "controller")) continue;
    ref.kind = Str(o, "kind");
    ref.name = Str(o, "name");
    ref.uid = Uid::Parse(Str(o, "uid"));
    break;
  }
  return ref;
}

void AppendPort(PortList& ports, element port, std::string_view key) {
  std::int64_t value = 0;
  if (port[key].get_int64().get(value) != simdjson::SUCCESS || value <= 0 || value > 65535) return;
  const auto p = static_cast<std::uint16_t>(value);
  if (std::find(ports.begin(), ports.end(), p) == ports.end()) ports.push_back(p);
}

// TCP ports declared by containers and (sidecar) init containers; protocol defaults
// to TCP.
void DeclaredTcpPorts(element spec, PortList& ports) {
  for (std::string_view list : {"containers", "initContainers"}) {
    simdjson::dom::array containers;
    if (spec[list].get_array().get(containers) != simdjson::SUCCESS) continue;
    for (element c : containers) {
      simdjson::dom::array declared;
      if (c["ports"].get_array().get(declared) != simdjson::SUCCESS) continue;
      for (element p : declared) {
        std::string_view protocol = Str(p, "protocol");
        if (!protocol.empty() && protocol != "TCP") continue;
        AppendPort(ports, p, "containerPort");
        AppendPort(ports, p, "hostPort");
      }
    }
  }
}

std::optional<Object> DecodePod(element obj, element md, std::string* error) {
  PodObject pod;
  pod.uid = Uid::Parse(Str(md, "uid"));
  pod.name = Str(md, "name");
  pod.namespace_ = Str(md, "namespace");
  pod.controller = ControllerOf(md);
  element spec, status;
  if (obj["spec"].get(spec) == simdjson::SUCCESS) {
    pod.node_name = Str(spec, "nodeName");
    pod.host_network = Bool(spec, "hostNetwork");
    if (pod.host_network) DeclaredTcpPorts(spec, pod.host_ports);
  }
  if (obj["status"].get(status) == simdjson::SUCCESS) {
    if (!status.is_object()) {
      *error = "status is not an object";
      return std::nullopt;
    }
    simdjson::dom::array ips;
    if (status["podIPs"].get_array().get(ips) == simdjson::SUCCESS) {
      for (element ip : ips) AppendIp(pod.ips, Str(ip, "ip"));
    }
    AppendIp(pod.ips, Str(status, "podIP"));
    if (pod.host_network) {
      if (status["hostIPs"].get_array().get(ips) == simdjson::SUCCESS) {
        for (element ip : ips) AppendIp(pod.ips, Str(ip, "ip"));
      }
      AppendIp(pod.ips, Str(status, "hostIP"));
    }
    std::string_view phase = Str(status, "phase");
    pod.terminated = phase == "Succeeded" || phase == "Failed";
  }
  return pod;
}

std::optional<Object> DecodeNode(element obj, element md) {
  NodeObject node;
  node.uid = Uid::Parse(Str(md, "uid"));
  node.name = Str(md, "name");
  element labels;
  if (md["labels"].get(labels) == simdjson::SUCCESS) {
    node.zone = Str(labels, "topology.kubernetes.io/zone");
    node.region = Str(labels, "topology.kubernetes.io/region");
    // Clusters older than 1.17 only set the beta labels.
    if (node.zone.empty()) node.zone = Str(labels, "failure-domain.beta.kubernetes.io/zone");
    if (node.region.empty()) node.region = Str(labels, "failure-domain.beta.kubernetes.io/region");
  }
  simdjson::dom::array addresses;
  if (obj["status"]["addresses"].get_array().get(addresses) == simdjson::SUCCESS) {
    for (element a : addresses) {
      std::string_view type = Str(a, "type");
      if (type == "InternalIP" || type == "ExternalIP") AppendIp(node.addresses, Str(a, "address"));
    }
  }
  return node;
}

std::optional<Object> DecodeService(element obj, element md) {
  ServiceObject svc;
  svc.uid = Uid::Parse(Str(md, "uid"));
  svc.name = Str(md, "name");
  svc.namespace_ = Str(md, "namespace");
  element spec;
  if (obj["spec"].get(spec) == simdjson::SUCCESS) {
    simdjson::dom::array ips;
    if (spec["clusterIPs"].get_array().get(ips) == simdjson::SUCCESS) {
      for (element ip : ips) {
        std::string_view text;
        if (ip.get_string().get(text) == simdjson::SUCCESS) AppendIp(svc.cluster_ips, text);
      }
    }
    AppendIp(svc.cluster_ips, Str(spec, "clusterIP"));
  }
  return svc;
}

std::optional<Object> DecodeSlice(element obj, element md) {
  EndpointSliceObject slice;
  slice.uid = Uid::Parse(Str(md, "uid"));
  slice.namespace_ = Str(md, "namespace");
  slice.service_name = Str(md["labels"], "kubernetes.io/service-name");
  simdjson::dom::array endpoints;
  if (obj["endpoints"].get_array().get(endpoints) == simdjson::SUCCESS) {
    for (element ep : endpoints) {
      element ref;
      if (ep["targetRef"].get(ref) == simdjson::SUCCESS && Str(ref, "kind") == "Pod") continue;
      simdjson::dom::array addrs;
      if (ep["addresses"].get_array().get(addrs) != simdjson::SUCCESS) continue;
      for (element a : addrs) {
        std::string_view text;
        if (a.get_string().get(text) == simdjson::SUCCESS) AppendIp(slice.external_addresses, text);
      }
    }
  }
  return slice;
}

}  // namespace

Uid Uid::Parse(std::string_view text) {
  Uid u;
  if (text.empty()) return u;
  std::uint64_t parts[2] = {0, 0};
  int nibbles = 0;
  bool ok = text.size() == 36;
  for (std::size_t i = 0; ok && i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      ok = text[i] == '-';
      continue;
    }
    int v = HexValue(text[i]);
    if (v < 0) {
      ok = false;
      break;
    }
    parts[nibbles / 16] = (parts[nibbles / 16] << 4) | static_cast<std::uint64_t>(v);
    ++nibbles;
  }
  if (ok && nibbles == 32) {
    u.hi = parts[0];
    u.lo = parts[1];
  } else {
    u.hi = Fnv1a(text, 0xcbf29ce484222325ull);
    u.lo = Fnv1a(text, 0x84222325cbf29ce4ull);
  }
  if (u.empty()) u.lo = 1;  // an all-zero UUID still names an object
  return u;
}

std::optional<Object> DecodeObject(ResourceType type, std::string_view workload_kind,
                                   element object, std::string* error) {
  element md;
  if (!Metadata(object, &md, error)) return std::nullopt;
  switch (type) {
    case ResourceType::kPods:
      return DecodePod(object, md, error);
    case ResourceType::kNodes:
      return DecodeNode(object, md);
    case ResourceType::kServices:
      return DecodeService(object, md);
    case ResourceType::kEndpointSlices:
      return DecodeSlice(object, md);
    case ResourceType::kWorkloads: {
      WorkloadObject w;
      w.uid = Uid::Parse(Str(md, "uid"));
      w.kind = workload_kind;
      w.name = Str(md, "name");
      w.namespace_ = Str(md, "namespace");
      w.controller = ControllerOf(md);
      return w;
    }
  }
  *error = "unknown resource type";
  return std::nullopt;
}

std::string_view ResourceVersionOf(element object) {
  return Str(object["metadata"], "resourceVersion");
}

const Uid& UidOf(const Object& object) {
  return std::visit([](const auto& o) -> const Uid& { return o.uid; }, object);
}

}  // namespace caretta::k8s
