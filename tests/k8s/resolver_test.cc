// KubernetesResolver end to end against the fake kube-apiserver.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fake_apiserver.h"
#include "resolve/k8s_resolver.h"

namespace caretta::resolve {
namespace {

using k8s::testing::FakeApiServer;
using k8s::testing::FakeApiServerOptions;
using k8s::testing::NodeJson;
using k8s::testing::PodJson;
using k8s::testing::WaitFor;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

Endpoint Remote(const char* ip) {
  return Endpoint{*common::IpAddress::Parse(ip), 80, 0, 0, 0, false};
}

KubernetesOptions OptionsFor(const FakeApiServer& server) {
  KubernetesOptions o;
  o.kubeconfig = server.kubeconfig;
  o.publish_interval = 20ms;
  o.reflector.backoff.initial = 50ms;
  o.reflector.backoff.max = 500ms;
  o.env = [](const std::string&) { return std::nullopt; };
  return o;
}

TEST(KubernetesResolver, DemoClusterResolvesWorkloadsServicesAndNodes) {
  FakeApiServer server(k8s::testing::WithArgs({"--demo-cluster"}));
  auto resolver = MakeKubernetesResolver(OptionsFor(server));
  ASSERT_NE(resolver, nullptr);
  ASSERT_TRUE(resolver->WaitSynced(15s));

  auto frontend = resolver->Resolve(Remote("10.244.1.2"));  // first IP handed out
  ASSERT_TRUE(frontend);
  EXPECT_EQ(frontend->kind, "Deployment");
  EXPECT_EQ(frontend->name, "frontend");
  EXPECT_EQ(frontend->namespace_, "shop");
  EXPECT_FALSE(frontend->zone.empty());
  auto svc = resolver->Resolve(Remote("10.96.0.10"));
  ASSERT_TRUE(svc);
  EXPECT_EQ(svc->kind, "Service");
  auto node = resolver->Resolve(Remote("10.0.0.12"));
  ASSERT_TRUE(node);
  EXPECT_EQ(node->kind, "node");
  EXPECT_EQ(node->namespace_, "node");
  EXPECT_EQ(node->zone, "zone-b");
  EXPECT_FALSE(resolver->Resolve(Remote("198.51.100.7")));  // falls through the chain
}

TEST(KubernetesResolver, FollowsChangesAndKeepsDeletedPodsBriefly) {
  FakeApiServer server;
  auto options = OptionsFor(server);
  options.traverse_up_hierarchy = false;
  options.deleted_pod_retention = 1s;
  auto resolver = MakeKubernetesResolver(options);
  ASSERT_TRUE(resolver->WaitSynced(15s));
  server.Add(PodJson("solo", "shop", "10.244.9.9"));
  ASSERT_TRUE(WaitFor([&] { return resolver->Resolve(Remote("10.244.9.9")).has_value(); }, 10s));
  EXPECT_EQ(resolver->Resolve(Remote("10.244.9.9"))->kind, "Pod");
  server.Delete("Pod", "shop", "solo");
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(resolver->Resolve(Remote("10.244.9.9")).has_value());  // retained
  EXPECT_TRUE(WaitFor([&] { return !resolver->Resolve(Remote("10.244.9.9")).has_value(); }, 10s));
}

TEST(KubernetesResolver, HostNetworkPodIsFoundThroughItsCgroup) {
  char tmpl[] = "/tmp/caretta-k8s-cgroup-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const fs::path root = tmpl;
  const std::string uid = "0b5a6f2c-1d2e-4f3a-8b9c-0d1e2f3a4b5c";
  std::string systemd_uid = uid;
  std::replace(systemd_uid.begin(), systemd_uid.end(), '-', '_');
  const fs::path container = root / "kubepods.slice/kubepods-besteffort.slice" /
                             ("kubepods-besteffort-pod" + systemd_uid + ".slice") /
                             "cri-containerd-0123.scope";

  FakeApiServer server;
  server.Add("[" + NodeJson("node-1", "10.0.0.11", "zone-a") + "," +
             PodJson("node-exporter", "monitoring", "10.0.0.11", R"(,"uid":")" + uid + "\"",
                     R"(,"hostNetwork":true)") +
             "]");
  auto options = OptionsFor(server);
  options.cgroup_root = root.string();
  options.cgroup_rescan_interval = 50ms;
  auto resolver = MakeKubernetesResolver(options);
  ASSERT_TRUE(resolver->WaitSynced(15s));

  fs::create_directories(container);  // the pod's cgroup appears after start-up
  struct stat st {};
  ASSERT_EQ(stat(container.c_str(), &st), 0);
  Endpoint local{*common::IpAddress::Parse("10.0.0.11"), 9100, 0, st.st_ino, 0, true};
  ASSERT_TRUE(WaitFor([&] { return resolver->Resolve(local)->kind == "Pod"; }, 10s));
  auto e = resolver->Resolve(local);
  EXPECT_EQ(e->name, "node-exporter");
  EXPECT_EQ(e->namespace_, "monitoring");
  EXPECT_EQ(e->zone, "zone-a");
  // The same address without the cgroup (the remote end) is the node.
  EXPECT_EQ(resolver->Resolve(Remote("10.0.0.11"))->kind, "node");
  local.cgroup_id = 1;  // some other cgroup: the node as well
  EXPECT_EQ(resolver->Resolve(local)->kind, "node");
  resolver.reset();
  fs::remove_all(root);
}

TEST(KubernetesResolver, HostNetworkPodIsFoundByItsDeclaredPortOnBothEnds) {
  FakeApiServer server;
  server.Add(
      R"([{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-1","labels":{
            "topology.kubernetes.io/zone":"zone-a"}},"status":{"addresses":[
            {"type":"InternalIP","address":"10.0.0.11"},{"type":"InternalIP","address":"fd00::11"}]}},
          {"kind":"Pod","apiVersion":"v1","metadata":{"name":"node-exporter-x7k2p",
            "namespace":"monitoring","ownerReferences":[{"apiVersion":"apps/v1",
            "kind":"DaemonSet","name":"node-exporter","uid":"3b2c1d0e-0000-4000-8000-000000000001",
            "controller":true}]},
           "spec":{"nodeName":"node-1","hostNetwork":true,"containers":[{"name":"exporter",
             "image":"x","ports":[{"containerPort":9100,"hostPort":9100,"protocol":"TCP"}]}]},
           "status":{"phase":"Running","hostIP":"10.0.0.11","podIP":"10.0.0.11",
             "podIPs":[{"ip":"10.0.0.11"}]}}])");
  auto resolver = MakeKubernetesResolver(OptionsFor(server));
  ASSERT_TRUE(resolver->WaitSynced(15s));
  for (const char* ip : {"10.0.0.11", "fd00::11"}) {
    const auto addr = *common::IpAddress::Parse(ip);
    // A client's remote end, and the listening host socket's own end (no cgroup known).
    for (const Endpoint& end :
         {Endpoint{addr, 9100, 0, 0, 0, false}, Endpoint{addr, 9100, 0, 0, 0, true}}) {
      auto e = resolver->Resolve(end);
      ASSERT_TRUE(e) << ip;
      EXPECT_EQ(e->kind, "DaemonSet") << ip;
      EXPECT_EQ(e->name, "node-exporter");
      EXPECT_EQ(e->namespace_, "monitoring");
      EXPECT_EQ(e->zone, "zone-a");
    }
    // Any other port on the node's address is the node.
    EXPECT_EQ(resolver->Resolve(Endpoint{addr, 22, 0, 0, 0, false})->kind, "node") << ip;
    EXPECT_EQ(resolver->Resolve(Endpoint{addr, 41234, 0, 0, 0, true})->kind, "node") << ip;
  }
}

TEST(KubernetesResolver, MetricsPassPromtool) {
  FakeApiServer server(k8s::testing::WithArgs({"--demo-cluster"}));
  auto resolver = MakeKubernetesResolver(OptionsFor(server));
  ASSERT_TRUE(resolver->WaitSynced(15s));
  server.Fault(R"({"type":"malformed_event","resource":"pods","mode":"object"})");
  server.Add(PodJson("poke", "shop", "10.244.7.7"));
  ASSERT_TRUE(WaitFor([&] { return resolver->Resolve(Remote("10.244.7.7")).has_value(); }, 10s));
  std::string text;
  resolver->AppendMetrics(text);
  EXPECT_NE(text.find("caretta_node_info{node=\"node-1\",zone=\"zone-a\",region=\"region-1\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("caretta_k8s_decode_errors_total{resource=\"pods\"} 1"), std::string::npos);
  EXPECT_NE(text.find("caretta_watcher_events_count{object_type=\"pods\"} 1"), std::string::npos);
  EXPECT_NE(text.find("caretta_k8s_synced 1"), std::string::npos);
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "no promtool";
  const std::string file = server.state_dir + "/metrics.txt";
  std::ofstream(file) << text;
  EXPECT_EQ(std::system(("promtool check metrics < " + file).c_str()), 0) << text;
}

TEST(KubernetesResolver, NoClusterMeansHostViewAndBrokenConfigThrows) {
  char tmpl[] = "/tmp/caretta-k8s-home-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  KubernetesOptions options;
  options.service_account_dir = std::string(tmpl) + "/sa";
  options.env = [&](const std::string& k) -> std::optional<std::string> {
    if (k == "HOME") return std::string(tmpl);
    return std::nullopt;
  };
  EXPECT_EQ(MakeKubernetesResolver(options), nullptr);
  options.kubeconfig = std::string(tmpl) + "/config";
  std::ofstream(options.kubeconfig) << "current-context: nowhere\n";
  EXPECT_THROW(MakeKubernetesResolver(options), std::runtime_error);
  fs::remove_all(tmpl);
}

TEST(KubernetesResolver, StopsPromptlyWhileTheServerIsUnreachable) {
  FakeApiServer server;
  auto options = OptionsFor(server);
  server.Stop();
  auto resolver = MakeKubernetesResolver(options);
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(resolver->Synced());
  auto started = std::chrono::steady_clock::now();
  resolver.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

}  // namespace
}  // namespace caretta::resolve
