// Kubernetes objects as the API server sends them (a LIST item or a watch event's
// object): decoded into the fields the agent keeps, stored, indexed and looked up.
// Input: one byte choosing the watched resource, then the object's JSON.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "k8s/cluster_store.h"
#include "k8s/objects.h"
#include "k8s/resources.h"
#include "resolve/k8s_index.h"

using namespace caretta;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<k8s::WatchedResource> resources = k8s::WatchedResources();
  if (size < 1) return 0;
  const k8s::WatchedResource& resource = resources[data[0] % resources.size()];
  simdjson::padded_string json(reinterpret_cast<const char*>(data + 1), size - 1);
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  if (parser.parse(json).get(element) != simdjson::SUCCESS) return 0;
  (void)k8s::ResourceVersionOf(element);
  std::string error;
  auto object = k8s::DecodeObject(resource.type, resource.kind, element, &error);
  if (!object) return 0;

  // What the reflector does next: store it, publish an index, resolve its addresses.
  k8s::ClusterStore store;
  store.Upsert(resource, *object);
  std::vector<common::IpAddress> ips;
  if (const auto* pod = std::get_if<k8s::PodObject>(&*object))
    ips.assign(pod->ips.begin(), pod->ips.end());
  else if (const auto* node = std::get_if<k8s::NodeObject>(&*object))
    ips = node->addresses;
  else if (const auto* service = std::get_if<k8s::ServiceObject>(&*object))
    ips = service->cluster_ips;
  else if (const auto* slice = std::get_if<k8s::EndpointSliceObject>(&*object))
    ips = slice->external_addresses;
  for (bool up : {true, false}) {
    auto index = store.Read([up](const k8s::ClusterContents& contents) {
      return resolve::ClusterIndex::Build(contents, resolve::IndexOptions{up});
    });
    for (const auto& ip : ips) {
      (void)index->FindByIp(ip);
      (void)index->FindHostNetworkPort(ip, 80);
    }
  }
  store.Delete(resource, *object);
  return 0;
}
