#include "k8s/objects.h"

#include <gtest/gtest.h>

#include "fixture.h"

namespace caretta::k8s {
namespace {

std::optional<Object> Decode(ResourceType type, const std::string& json, std::string* error,
                             std::string_view kind = "") {
  simdjson::dom::parser parser;  // decoded objects own their strings
  simdjson::padded_string padded(json);
  simdjson::dom::element e;
  if (parser.parse(padded).get(e) != simdjson::SUCCESS) {
    *error = "syntax";
    return std::nullopt;
  }
  return DecodeObject(type, kind, e, error);
}

TEST(Uid, ParsesUuidsAndHashesOtherStrings) {
  Uid a = Uid::Parse("c492ec8f-9de8-51a0-84ae-4a3f7af21cae");
  EXPECT_EQ(a.hi, 0xc492ec8f9de851a0ull);
  EXPECT_EQ(a.lo, 0x84ae4a3f7af21caeull);
  EXPECT_EQ(Uid::Parse("C492EC8F-9DE8-51A0-84AE-4A3F7AF21CAE"), a);
  Uid h = Uid::Parse("6d5f8e2a9b1c4d3e8f7a6b5c4d3e2f1a");  // static pods: a 32-hex hash
  EXPECT_FALSE(h.empty());
  EXPECT_EQ(h, Uid::Parse("6d5f8e2a9b1c4d3e8f7a6b5c4d3e2f1a"));
  EXPECT_NE(h, a);
  EXPECT_TRUE(Uid::Parse("").empty());
}

TEST(Decode, PodKeepsOnlyWhatResolutionNeeds) {
  std::string error;
  auto o = Decode(ResourceType::kPods, R"({"metadata":{"name":"p","namespace":"ns",
    "uid":"c492ec8f-9de8-51a0-84ae-4a3f7af21cae","ownerReferences":[
      {"apiVersion":"v1","kind":"Node","name":"n1","uid":"x","controller":false},
      {"apiVersion":"apps/v1","kind":"ReplicaSet","name":"rs","uid":"74a79639-fc65-5a49-ac10-434ae4762c89","controller":true}]},
    "spec":{"nodeName":"n1","hostNetwork":false},
    "status":{"phase":"Running","podIP":"10.0.0.1","podIPs":[{"ip":"10.0.0.1"},{"ip":"fd00::1"}]}})",
                  &error);
  ASSERT_TRUE(o) << error;
  const auto& pod = std::get<PodObject>(*o);
  EXPECT_EQ(pod.name, "p");
  EXPECT_EQ(pod.namespace_, "ns");
  EXPECT_EQ(pod.node_name, "n1");
  ASSERT_EQ(pod.ips.size(), 2u);
  EXPECT_EQ(pod.ips[1].ToString(), "fd00::1");
  EXPECT_EQ(pod.controller.kind, "ReplicaSet");
  EXPECT_EQ(pod.controller.name, "rs");
  EXPECT_FALSE(pod.terminated);
}

TEST(Decode, HostNetworkPodKeepsDeclaredTcpPortsAndHostIps) {
  std::string error;
  auto o = Decode(ResourceType::kPods, R"({"metadata":{"name":"exporter","uid":"u"},
    "spec":{"hostNetwork":true,"containers":[
      {"name":"a","ports":[{"containerPort":9100,"hostPort":9101,"protocol":"TCP"},
                           {"containerPort":53,"protocol":"UDP"},{"containerPort":9100},
                           {"containerPort":"x"},{"containerPort":70000}]},
      {"name":"b"}],"initContainers":[{"name":"sidecar","ports":[{"containerPort":15090}]}]},
    "status":{"podIP":"10.0.0.1","hostIP":"10.0.0.1","hostIPs":[{"ip":"10.0.0.1"},{"ip":"fd00::1"}]}})",
                  &error);
  ASSERT_TRUE(o) << error;
  const auto& pod = std::get<PodObject>(*o);
  EXPECT_EQ(pod.host_ports, (PortList{9100, 9101, 15090}));
  ASSERT_EQ(pod.ips.size(), 2u);
  EXPECT_EQ(pod.ips[1].ToString(), "fd00::1");

  // Ports of pods with their own network namespace are not kept.
  o = Decode(ResourceType::kPods, R"({"metadata":{"name":"web","uid":"v"},
    "spec":{"containers":[{"name":"a","ports":[{"containerPort":8080,"hostPort":80}]}]},
    "status":{"podIP":"10.244.0.5","hostIP":"10.0.0.1"}})",
             &error);
  ASSERT_TRUE(o) << error;
  EXPECT_TRUE(std::get<PodObject>(*o).host_ports.empty());
  EXPECT_EQ(std::get<PodObject>(*o).ips.size(), 1u);
}

TEST(Decode, PodWithoutIpsOrStatusIsFine) {
  std::string error;
  auto o = Decode(ResourceType::kPods, R"({"metadata":{"name":"pending","uid":"u"}})", &error);
  ASSERT_TRUE(o) << error;
  EXPECT_TRUE(std::get<PodObject>(*o).ips.empty());
}

TEST(Decode, MalformedObjectsAreRejectedNotCrashed) {
  std::string error;
  EXPECT_FALSE(Decode(ResourceType::kPods, R"({"metadata":"oops"})", &error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(Decode(ResourceType::kPods, R"([1,2])", &error));
  EXPECT_FALSE(Decode(ResourceType::kPods, R"({"metadata":{"uid":"x"}})", &error));
  EXPECT_FALSE(Decode(ResourceType::kPods, R"({"metadata":{"name":"p"},"status":7})", &error));
  // Wrong types inside optional fields are ignored rather than fatal.
  auto o = Decode(ResourceType::kPods,
                  R"({"metadata":{"name":"p","ownerReferences":"x"},"spec":[],
                      "status":{"podIPs":[{"ip":5},{"ip":"not-an-ip"}],"podIP":null}})",
                  &error);
  ASSERT_TRUE(o) << error;
  EXPECT_TRUE(std::get<PodObject>(*o).ips.empty());
}

TEST(Decode, ServiceSkipsNoneAndKeepsAllClusterIps) {
  std::string error;
  auto o = Decode(ResourceType::kServices, R"({"metadata":{"name":"s","namespace":"n","uid":"u"},
    "spec":{"clusterIP":"10.96.0.5","clusterIPs":["10.96.0.5","fd00::5"]}})",
                  &error);
  ASSERT_TRUE(o);
  EXPECT_EQ(std::get<ServiceObject>(*o).cluster_ips.size(), 2u);
  o = Decode(ResourceType::kServices,
             R"({"metadata":{"name":"h"},"spec":{"clusterIP":"None","clusterIPs":["None"]}})",
             &error);
  ASSERT_TRUE(o);
  EXPECT_TRUE(std::get<ServiceObject>(*o).cluster_ips.empty());
}

TEST(Decode, NodeAddressesAndTopology) {
  std::string error;
  auto o = Decode(ResourceType::kNodes, R"({"metadata":{"name":"n","labels":{
      "topology.kubernetes.io/zone":"z1","topology.kubernetes.io/region":"r1"}},
    "status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"},
      {"type":"Hostname","address":"n"},{"type":"ExternalIP","address":"1.2.3.4"}]}})",
                  &error);
  ASSERT_TRUE(o);
  const auto& node = std::get<NodeObject>(*o);
  EXPECT_EQ(node.zone, "z1");
  EXPECT_EQ(node.region, "r1");
  EXPECT_EQ(node.addresses.size(), 2u);
}

TEST(Decode, WorkloadCarriesKindAndController) {
  std::string error;
  auto o = Decode(ResourceType::kWorkloads, R"({"metadata":{"name":"j","namespace":"n",
    "ownerReferences":[{"kind":"CronJob","name":"c","uid":"u","controller":true}]}})",
                  &error, "Job");
  ASSERT_TRUE(o);
  const auto& w = std::get<WorkloadObject>(*o);
  EXPECT_EQ(w.kind, "Job");
  EXPECT_EQ(w.controller.kind, "CronJob");
}

TEST(Decode, EveryFixtureItemDecodes) {
  ClusterStore store;
  EXPECT_EQ(testing::LoadList(testing::ReadFile(testing::FixturePath("cluster.json")), store), 0);
  store.Read([](const ClusterContents& c) {
    EXPECT_EQ(c.pods.size(), 10u);
    EXPECT_EQ(c.nodes.size(), 2u);
    EXPECT_EQ(c.services.size(), 3u);
    EXPECT_EQ(c.workloads.size(), 7u);
    EXPECT_EQ(c.endpoint_slices.size(), 1u);
    return 0;
  });
}

}  // namespace
}  // namespace caretta::k8s
