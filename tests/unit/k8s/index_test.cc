// Resolution from a cluster mirror: owner kinds, TRAVERSE_UP_HIERARCHY both ways,
// precedence, dual stack, IP reuse, retention and missing owners.
#include <gtest/gtest.h>

#include <map>

#include "fixture.h"
#include "k8s/resources.h"
#include "resolve/k8s_index.h"

namespace caretta::resolve {
namespace {

using k8s::testing::FixturePath;
using k8s::testing::LoadList;
using k8s::testing::ReadFile;

common::IpAddress Ip(const char* text) { return *common::IpAddress::Parse(text); }

k8s::WatchedResource Resource(const std::string& plural) {
  for (auto& r : k8s::WatchedResources())
    if (r.resource == plural) return r;
  throw std::runtime_error("no resource " + plural);
}

class IndexTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(LoadList(ReadFile(FixturePath("cluster.json")), store_), 0); }

  std::shared_ptr<const ClusterIndex> Build(bool traverse = true) {
    return store_.Read([&](const k8s::ClusterContents& c) {
      return ClusterIndex::Build(c, IndexOptions{traverse});
    });
  }
  Entity MustFind(const ClusterIndex& index, const char* ip) {
    const Entity* e = index.FindByIp(Ip(ip));
    EXPECT_NE(e, nullptr) << ip;
    return e != nullptr ? *e : Entity{};
  }

  std::chrono::steady_clock::time_point now_{std::chrono::seconds(1000)};
  k8s::ClusterStore store_{std::chrono::seconds(60), [this] { return now_; }};
};

TEST_F(IndexTest, DeploymentPodResolvesToDeploymentWithItsNodesZone) {
  auto index = Build();
  Entity e = MustFind(*index, "10.244.1.2");
  EXPECT_EQ(e.name, "web");
  EXPECT_EQ(e.namespace_, "shop");
  EXPECT_EQ(e.kind, "Deployment");
  EXPECT_EQ(e.owner, "");
  EXPECT_EQ(e.zone, "zone-a");
  EXPECT_EQ(MustFind(*index, "10.244.2.2").zone, "zone-b");  // the other replica's node
}

TEST_F(IndexTest, EachControllerKindIsTheTopOwner) {
  auto index = Build();
  EXPECT_EQ(MustFind(*index, "10.244.1.3").kind, "StatefulSet");
  EXPECT_EQ(MustFind(*index, "10.244.1.3").name, "db");
  EXPECT_EQ(MustFind(*index, "10.244.1.4").kind, "DaemonSet");
  EXPECT_EQ(MustFind(*index, "10.244.1.4").namespace_, "kube-system");
  EXPECT_EQ(MustFind(*index, "10.244.2.5").kind, "CronJob");  // Pod → Job → CronJob
  EXPECT_EQ(MustFind(*index, "10.244.2.5").name, "report");
  EXPECT_EQ(MustFind(*index, "10.244.2.6").kind, "Job");  // a Job without CronJob
  EXPECT_EQ(MustFind(*index, "10.244.2.6").name, "migrate");
  EXPECT_EQ(MustFind(*index, "10.244.2.7").kind, "Pod");  // bare pod
  EXPECT_EQ(MustFind(*index, "10.244.2.7").name, "debug");
}

TEST_F(IndexTest, WithoutTraversalThePodIsNamedAndOwnerIsTheDirectController) {
  auto index = Build(/*traverse=*/false);
  Entity web = MustFind(*index, "10.244.1.2");
  EXPECT_EQ(web.kind, "Pod");
  EXPECT_EQ(web.name, "web-2f3ab5156c-74ab9");
  EXPECT_EQ(web.owner, "ReplicaSet/web-2f3ab5156c");
  EXPECT_EQ(MustFind(*index, "10.244.2.5").owner, "Job/report-29000006");
  EXPECT_EQ(MustFind(*index, "10.244.1.3").owner, "StatefulSet/db");
  EXPECT_EQ(MustFind(*index, "10.244.2.7").owner, "");
}

TEST_F(IndexTest, DualStackPodsServicesAndNodes) {
  auto index = Build();
  EXPECT_EQ(MustFind(*index, "fd00:244::7").name, "debug");
  EXPECT_EQ(MustFind(*index, "10.96.0.20").name, "dual");
  EXPECT_EQ(MustFind(*index, "fd00:96::20").name, "dual");
  EXPECT_EQ(MustFind(*index, "fd00:96::20").kind, "Service");
  Entity node = MustFind(*index, "fd00::12");
  EXPECT_EQ(node.kind, "node");
  EXPECT_EQ(node.namespace_, "node");
  EXPECT_EQ(node.name, "node-2");
  EXPECT_EQ(node.zone, "zone-b");
  EXPECT_EQ(MustFind(*index, "203.0.113.12").name, "node-2");  // ExternalIP too
}

TEST_F(IndexTest, ServicesHeadlessAndSelectorlessEndpoints) {
  auto index = Build();
  Entity web = MustFind(*index, "10.96.0.10");
  EXPECT_EQ(web.kind, "Service");
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.namespace_, "shop");
  Entity ext = MustFind(*index, "192.0.2.50");  // EndpointSlice address without a pod
  EXPECT_EQ(ext.kind, "Service");
  EXPECT_EQ(ext.name, "external-db");
  EXPECT_EQ(index->FindByIp(Ip("203.0.113.99")), nullptr);  // unknown: falls through
}

TEST_F(IndexTest, NodeBeatsHostNetworkPodWhichIsFoundByUid) {
  auto index = Build();
  EXPECT_EQ(MustFind(*index, "10.0.0.11").kind, "node");
  const Entity* exporter =
      index->FindHostNetworkPod(k8s::Uid::Parse("be1e1466-d96c-5902-ab7c-20a0359caca2"));
  ASSERT_NE(exporter, nullptr);
  EXPECT_EQ(exporter->name, "exporter");
  EXPECT_EQ(exporter->zone, "zone-a");
}

TEST_F(IndexTest, HostNetworkPodOwnsItsDeclaredPortsOnEveryNodeAddress) {
  auto index = Build();
  const Entity* exporter = index->FindHostNetworkPort(Ip("10.0.0.11"), 9100);
  ASSERT_NE(exporter, nullptr);
  EXPECT_EQ(exporter->name, "exporter");
  EXPECT_EQ(exporter->namespace_, "monitoring");
  EXPECT_EQ(exporter->zone, "zone-a");
  // node-2: its InternalIPs of both families and its ExternalIP.
  for (const char* ip : {"10.0.0.12", "fd00::12", "203.0.113.12"}) {
    const Entity* proxy = index->FindHostNetworkPort(Ip(ip), 8443);
    ASSERT_NE(proxy, nullptr) << ip;
    EXPECT_EQ(proxy->name, "proxy");
    EXPECT_EQ(proxy->zone, "zone-b");
  }
  // Ports not declared (or UDP), other nodes and pod IPs are not claimed.
  EXPECT_EQ(index->FindHostNetworkPort(Ip("10.0.0.12"), 53), nullptr);
  EXPECT_EQ(index->FindHostNetworkPort(Ip("10.0.0.11"), 9101), nullptr);
  EXPECT_EQ(index->FindHostNetworkPort(Ip("10.0.0.12"), 9100), nullptr);
  EXPECT_EQ(index->FindHostNetworkPort(Ip("10.244.1.2"), 9100), nullptr);
  EXPECT_EQ(MustFind(*index, "fd00::12").kind, "node");  // by IP alone: still the node
}

TEST_F(IndexTest, HostNetworkPortsFollowTheNodesAddressesAndLivePods) {
  // The node's addresses come from the Node too, not only the pod's status.
  k8s::PodObject pod;
  pod.uid = k8s::Uid::Parse("00000000-0000-0000-0000-0000000000ee");
  pod.name = "late";
  pod.namespace_ = "monitoring";
  pod.node_name = "node-2";
  pod.host_network = true;
  pod.host_ports = {9200};
  store_.Upsert(Resource("pods"), pod);
  k8s::PodObject done = pod;  // a finished pod on the same port loses to the live one
  done.uid = k8s::Uid::Parse("00000000-0000-0000-0000-0000000000ef");
  done.name = "finished";
  done.terminated = true;
  store_.Upsert(Resource("pods"), done);
  auto index = Build();
  for (const char* ip : {"10.0.0.12", "fd00::12"}) {
    const Entity* e = index->FindHostNetworkPort(Ip(ip), 9200);
    ASSERT_NE(e, nullptr) << ip;
    EXPECT_EQ(e->name, "late");
  }
}

TEST_F(IndexTest, PrecedenceNodeOverPodOverService) {
  // A pod that claims a Service IP, and a Service that claims a node IP.
  k8s::PodObject pod;
  pod.uid = k8s::Uid::Parse("00000000-0000-0000-0000-0000000000aa");
  pod.name = "squatter";
  pod.namespace_ = "shop";
  pod.ips = {Ip("10.96.0.10")};
  store_.Upsert(Resource("pods"), pod);
  k8s::ServiceObject svc;
  svc.uid = k8s::Uid::Parse("00000000-0000-0000-0000-0000000000bb");
  svc.name = "on-node";
  svc.namespace_ = "shop";
  svc.cluster_ips = {Ip("10.0.0.11")};
  store_.Upsert(Resource("services"), svc);
  auto index = Build();
  EXPECT_EQ(MustFind(*index, "10.96.0.10").name, "squatter");
  EXPECT_EQ(MustFind(*index, "10.0.0.11").kind, "node");
}

TEST_F(IndexTest, DeletedPodIsRetainedUntilExpiryOrIpReuse) {
  k8s::PodObject debug;
  debug.uid = k8s::Uid::Parse("5e94b92e-854a-5338-a75d-94d74d30b44c");
  store_.Delete(Resource("pods"), debug);
  EXPECT_EQ(MustFind(*Build(), "10.244.2.7").name, "debug");  // still resolvable

  now_ += std::chrono::seconds(61);
  EXPECT_EQ(Build()->FindByIp(Ip("10.244.2.7")), nullptr);  // retention over
  EXPECT_FALSE(store_.NextExpiry().has_value());
}

TEST_F(IndexTest, ReusedIpBelongsToTheNewPod) {
  k8s::PodObject old_pod;
  old_pod.uid = k8s::Uid::Parse("5e94b92e-854a-5338-a75d-94d74d30b44c");
  store_.Delete(Resource("pods"), old_pod);
  k8s::PodObject fresh;
  fresh.uid = k8s::Uid::Parse("00000000-0000-0000-0000-0000000000cc");
  fresh.name = "fresh";
  fresh.namespace_ = "shop";
  fresh.ips = {Ip("10.244.2.7")};
  store_.Upsert(Resource("pods"), fresh);
  auto index = Build();
  EXPECT_EQ(MustFind(*index, "10.244.2.7").name, "fresh");
  EXPECT_EQ(MustFind(*index, "fd00:244::7").name, "debug");  // the other IP is not reused
}

TEST_F(IndexTest, FinishedPodLosesItsIpToARunningPod) {
  EXPECT_EQ(MustFind(*Build(), "10.244.1.9").name, "done");  // Succeeded, nobody else
  k8s::PodObject next;
  next.uid = k8s::Uid::Parse("00000000-0000-0000-0000-0000000000dd");
  next.name = "next";
  next.namespace_ = "shop";
  next.ips = {Ip("10.244.1.9")};
  store_.Upsert(Resource("pods"), next);
  EXPECT_EQ(MustFind(*Build(), "10.244.1.9").name, "next");
}

TEST_F(IndexTest, RelistRetiresPodsThatVanished) {
  store_.Replace(Resource("pods"), {});
  auto index = Build();
  EXPECT_EQ(MustFind(*index, "10.244.1.2").name, "web");  // retained, not gone
  now_ += std::chrono::seconds(61);
  EXPECT_EQ(Build()->FindByIp(Ip("10.244.1.2")), nullptr);
}

TEST_F(IndexTest, MissingOwnerResolvesToDeepestKnownLevelThenClimbsWhenSeen) {
  k8s::WatchedResource deployments = Resource("deployments");
  store_.Replace(deployments, {});
  store_.Replace(Resource("replicasets"), {});
  // Neither the ReplicaSet nor the Deployment is known: the ownerReference names it.
  EXPECT_EQ(MustFind(*Build(), "10.244.1.2").kind, "ReplicaSet");
  EXPECT_EQ(MustFind(*Build(), "10.244.1.2").name, "web-2f3ab5156c");
  // The ReplicaSet arrives (its Deployment still unknown): its reference names it.
  ASSERT_EQ(LoadList(ReadFile(FixturePath("cluster.json")), store_), 0);
  store_.Replace(deployments, {});
  EXPECT_EQ(MustFind(*Build(), "10.244.1.2").kind, "Deployment");
  EXPECT_EQ(MustFind(*Build(), "10.244.1.2").name, "web");
}

// Issue 12: with the ReplicaSet LIST failing (or the API server down at start), a
// Deployment's pods were exported as their ReplicaSet for good. An owner whose
// resource has not been listed yet makes the name provisional, not final.
TEST(IndexIncomplete, OwnerOfAnUnlistedKindMakesTheNameIncompleteUntilItLists) {
  k8s::ClusterStore store;
  for (const k8s::WatchedResource& r : k8s::WatchedResources()) store.Expect(r);
  auto build = [&] {
    return store.Read([&](const k8s::ClusterContents& c) { return ClusterIndex::Build(c, {}); });
  };
  EXPECT_FALSE(build()->addresses_listed());
  // Everything lists but ReplicaSets and Deployments.
  std::map<std::string, std::vector<k8s::Object>> by_kind;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(ReadFile(FixturePath("cluster.json")));
  simdjson::dom::element list = parser.parse(padded).value();
  std::map<std::string, k8s::WatchedResource> resources;
  for (const k8s::WatchedResource& r : k8s::WatchedResources()) resources.emplace(r.kind, r);
  simdjson::dom::array items = list["items"].get_array().value();
  for (simdjson::dom::element item : items) {
    std::string kind(item["kind"].get_string().value());
    if (!resources.contains(kind)) continue;
    std::string error;
    auto object = k8s::DecodeObject(resources.at(kind).type, kind, item, &error);
    ASSERT_TRUE(object) << error;
    by_kind[kind].push_back(std::move(*object));
  }
  for (auto& [kind, objects] : by_kind)
    if (kind != "ReplicaSet" && kind != "Deployment") store.Replace(resources.at(kind), objects);

  auto index = build();
  EXPECT_TRUE(index->addresses_listed());
  const Entity* web = index->FindByIp(Ip("10.244.1.2"));
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->kind, "ReplicaSet");  // the last owner known ...
  EXPECT_TRUE(web->incomplete);        // ... but not final
  EXPECT_GE(index->incomplete_entity_count(), 1u);
  // Owners of listed kinds are final: StatefulSet, DaemonSet, Job → CronJob, bare pod.
  for (const char* ip : {"10.244.1.3", "10.244.1.4", "10.244.2.5", "10.244.2.6", "10.244.2.7"}) {
    const Entity* e = index->FindByIp(Ip(ip));
    ASSERT_NE(e, nullptr) << ip;
    EXPECT_FALSE(e->incomplete) << ip << " " << e->kind;
  }

  // The ReplicaSets list; their Deployment not yet: still provisional.
  store.Replace(resources.at("ReplicaSet"), by_kind["ReplicaSet"]);
  web = (index = build())->FindByIp(Ip("10.244.1.2"));
  EXPECT_EQ(web->kind, "Deployment");
  EXPECT_TRUE(web->incomplete);
  // Deployments list: final.
  store.Replace(resources.at("Deployment"), by_kind["Deployment"]);
  web = (index = build())->FindByIp(Ip("10.244.1.2"));
  EXPECT_EQ(web->kind, "Deployment");
  EXPECT_EQ(web->name, "web");
  EXPECT_FALSE(web->incomplete);
  EXPECT_EQ(index->incomplete_entity_count(), 0u);

  // An owner of a listed kind that is missing (deleted, or not arrived yet) and an
  // owner of a kind not watched at all stay final, as before.
  store.Replace(resources.at("ReplicaSet"), {});
  web = (index = build())->FindByIp(Ip("10.244.1.2"));
  EXPECT_EQ(web->kind, "ReplicaSet");
  EXPECT_FALSE(web->incomplete);
}

TEST_F(IndexTest, EveryEntityCarriesTheZoneOfItsPodsNode) {
  auto index = Build();
  EXPECT_EQ(MustFind(*index, "10.244.1.3").zone, "zone-a");  // StatefulSet on node-1
  EXPECT_EQ(MustFind(*index, "10.244.2.5").zone, "zone-b");  // CronJob on node-2
  EXPECT_EQ(MustFind(*index, "10.244.1.9").zone, "zone-a");  // finished pod too
  EXPECT_EQ(MustFind(*index, "10.0.0.11").zone, "zone-a");   // the node itself
  EXPECT_EQ(MustFind(*index, "10.96.0.10").zone, "");        // Services have none
  // Retained deleted pods keep their node's zone.
  k8s::PodObject debug;
  debug.uid = k8s::Uid::Parse("5e94b92e-854a-5338-a75d-94d74d30b44c");
  store_.Delete(Resource("pods"), debug);
  EXPECT_EQ(MustFind(*Build(), "10.244.2.7").zone, "zone-b");
}

TEST_F(IndexTest, ReplicasShareOneEntity) {
  auto index = Build();
  const Entity* a = index->FindByIp(Ip("10.244.1.2"));
  const Entity* b = index->FindByIp(Ip("10.244.2.2"));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a, b);  // different zones
  EXPECT_EQ(a->name, b->name);
  EXPECT_EQ(index->nodes().size(), 2u);
  EXPECT_EQ(index->nodes()[1].zone, "zone-b");
}

}  // namespace
}  // namespace caretta::resolve
