// Benchmarks for the Kubernetes side at 100,000 pods: LIST parse throughput, watch
// events applied per second, index build time and memory, resolve lookups per second.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "k8s/cluster_store.h"
#include "k8s/resources.h"
#include "resolve/k8s_index.h"

namespace caretta {
namespace {

constexpr int kPods = 100000;

std::string Uuid(std::uint64_t a, std::uint64_t b) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(a & 0xffffffff),
                static_cast<unsigned long long>((a >> 32) & 0xffff),
                static_cast<unsigned long long>(b & 0xffff),
                static_cast<unsigned long long>((b >> 16) & 0xffff),
                static_cast<unsigned long long>(b >> 20));
  return buf;
}

std::string PodIp(int i) {
  return "10." + std::to_string(64 + i / 65536) + "." + std::to_string((i / 256) % 256) + "." +
         std::to_string(i % 256);
}

// A pod as the API returns it (no managedFields: clients usually strip them), ≈2 KB.
std::string PodJson(int i, const char* rv = "1000") {
  const int deployment = i / 10;
  const std::string rs = "svc-" + std::to_string(deployment) + "-5d9c7b8f6d";
  const std::string name = rs + "-" + std::to_string(10000 + i % 90000).substr(0, 5);
  const std::string node =
      "ip-10-0-" + std::to_string(i % 250) + "-" + std::to_string(i % 200) + ".ec2.internal";
  const std::string ip = PodIp(i);
  return R"({"metadata":{"name":")" + name + R"(","generateName":")" + rs +
         R"(-","namespace":"team-)" + std::to_string(deployment % 50) + R"(","uid":")" +
         Uuid(i, i * 7919ull) + R"(","resourceVersion":")" + rv +
         R"(","creationTimestamp":"2025-01-01T00:00:00Z","labels":{"app":"svc-)" +
         std::to_string(deployment) +
         R"(","pod-template-hash":"5d9c7b8f6d"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":")" +
         rs + R"(","uid":")" + Uuid(deployment, 31337) +
         R"(","controller":true,"blockOwnerDeletion":true}]},"spec":{"volumes":[{"name":"kube-api-access","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}}],"defaultMode":420}}],"containers":[{"name":"app","image":"registry.example/app:1.2.3","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"limits":{"memory":"256Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},"volumeMounts":[{"name":"kube-api-access","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","serviceAccount":"default","nodeName":")" + node + R"(","securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},"status":{"phase":"Running","conditions":[{"type":"Initialized","status":"True","lastProbeTime":null,"lastTransitionTime":"2025-01-01T00:00:00Z"},{"type":"Ready","status":"True","lastProbeTime":null,"lastTransitionTime":"2025-01-01T00:00:05Z"},{"type":"ContainersReady","status":"True","lastProbeTime":null,"lastTransitionTime":"2025-01-01T00:00:05Z"},{"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":"2025-01-01T00:00:00Z"}],"hostIP":"10.0.0.1","hostIPs":[{"ip":"10.0.0.1"}],"podIP":")" + ip + R"(","podIPs":[{"ip":")" + ip + R"("}],"startTime":"2025-01-01T00:00:00Z","containerStatuses":[{"name":"app","state":{"running":{"startedAt":"2025-01-01T00:00:04Z"}},"lastState":{},"ready":true,"restartCount":0,"image":"registry.example/app:1.2.3","imageID":"registry.example/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","containerID":"containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","started":true}],"qosClass":"Burstable"}})";
}

const std::string& PodList() {
  static const std::string list = [] {
    std::string s =
        R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1000"},"items":[)";
    for (int i = 0; i < kPods; ++i) {
      if (i > 0) s += ',';
      s += PodJson(i);
    }
    s += "]}";
    return s;
  }();
  return list;
}

k8s::WatchedResource Resource(const std::string& plural) {
  for (auto& r : k8s::WatchedResources())
    if (r.resource == plural) return r;
  return {};
}

// Parse + decode of a whole LIST body, as Reflector::List does per page.
void BM_ListParse(benchmark::State& state) {
  const std::string& body = PodList();
  simdjson::padded_string padded(body);
  simdjson::dom::parser parser;
  std::size_t decoded = 0;
  for (auto _ : state) {
    simdjson::dom::element list = parser.parse(padded).value();
    simdjson::dom::array items = list["items"].get_array().value();
    std::vector<k8s::Object> objects;
    objects.reserve(items.size());
    for (simdjson::dom::element item : items) {
      std::string error;
      auto o = k8s::DecodeObject(k8s::ResourceType::kPods, "Pod", item, &error);
      if (o) objects.push_back(std::move(*o));
    }
    decoded = objects.size();
    benchmark::DoNotOptimize(objects.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
  state.counters["pods"] = static_cast<double>(decoded);
  state.counters["list_MB"] = static_cast<double>(body.size()) / 1e6;
}
BENCHMARK(BM_ListParse)->Unit(benchmark::kMillisecond)->Iterations(5);

// One watch line → parse → decode → store (as Reflector::HandleLine), on a 100k-pod store.
void BM_WatchApply(benchmark::State& state) {
  k8s::ClusterStore store;
  const k8s::WatchedResource pods = Resource("pods");
  std::vector<std::string> lines;
  constexpr int kLines = 20000;
  for (int i = 0; i < kLines; ++i) {
    std::string line = R"({"type":"MODIFIED","object":)" + PodJson(i * 5, "2000") + "}";
    line.reserve(line.size() + simdjson::SIMDJSON_PADDING);
    lines.push_back(std::move(line));
  }
  {
    simdjson::dom::parser parser;
    std::vector<k8s::Object> all;
    for (int i = 0; i < kPods; ++i) {
      std::string j = PodJson(i);
      std::string error;
      all.push_back(
          *k8s::DecodeObject(k8s::ResourceType::kPods, "Pod", parser.parse(j).value(), &error));
    }
    store.Replace(pods, std::move(all));
  }
  simdjson::dom::parser parser;
  std::size_t n = 0;
  for (auto _ : state) {
    const std::string& line = lines[n++ % kLines];
    simdjson::dom::element ev = parser.parse(line.data(), line.size(), false).value();
    std::string_view type = ev["type"].get_string().value();
    std::string error;
    auto o = k8s::DecodeObject(k8s::ResourceType::kPods, "Pod", ev["object"].value(), &error);
    if (type == "MODIFIED" && o) store.Upsert(pods, std::move(*o));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_WatchApply)->Unit(benchmark::kMicrosecond);

struct Cluster {
  k8s::ClusterStore store;
  std::shared_ptr<const resolve::ClusterIndex> index;
};

std::unique_ptr<Cluster> BuildCluster() {
  auto c = std::make_unique<Cluster>();
  std::vector<k8s::Object> pods, workloads;
  simdjson::dom::parser parser;
  for (int i = 0; i < kPods; ++i) {
    std::string j = PodJson(i);
    std::string error;
    pods.push_back(
        *k8s::DecodeObject(k8s::ResourceType::kPods, "Pod", parser.parse(j).value(), &error));
  }
  for (int d = 0; d < kPods / 10; ++d) {
    k8s::WorkloadObject rs;
    rs.uid = k8s::Uid::Parse(Uuid(d, 31337));
    rs.kind = "ReplicaSet";
    rs.name = "svc-" + std::to_string(d) + "-5d9c7b8f6d";
    rs.namespace_ = "team-" + std::to_string(d % 50);
    rs.controller = {"Deployment", "svc-" + std::to_string(d), k8s::Uid::Parse(Uuid(d, 4242))};
    workloads.push_back(std::move(rs));
  }
  c->store.Replace(Resource("pods"), std::move(pods));
  c->store.Replace(Resource("replicasets"), std::move(workloads));
  c->index = c->store.Read([](const k8s::ClusterContents& contents) {
    return resolve::ClusterIndex::Build(contents, {});
  });
  return c;
}

std::size_t HeapInUse() { return mallinfo2().uordblks; }

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

std::size_t HeapString(const std::string& s) { return s.size() > 15 ? s.capacity() + 1 : 0; }

// Heap and RSS of the store + published index for 100k pods (10k ReplicaSets).
void BM_IndexMemory(benchmark::State& state) {
  malloc_trim(0);
  const std::size_t heap_before = HeapInUse();
  const long rss_before = RssKiB();
  std::unique_ptr<Cluster> c;
  for (auto _ : state) c = BuildCluster();
  malloc_trim(0);
  const double heap = static_cast<double>(HeapInUse() - heap_before);
  const double rss = static_cast<double>(RssKiB() - rss_before) * 1024;
  // Bytes held by the strings themselves: heap payloads of long std::strings (pod
  // names) and every distinct pooled string once (namespaces, nodes, owner kinds and
  // names are shared by the pods that repeat them).
  double strings = static_cast<double>(c->store.pooled_string_bytes());
  c->store.Read([&](const k8s::ClusterContents& contents) {
    for (const auto& [uid, p] : contents.pods) strings += static_cast<double>(HeapString(p.name));
    return 0;
  });
  state.counters["heap_bytes_per_pod"] = heap / kPods;
  state.counters["string_bytes_per_pod"] = strings / kPods;
  state.counters["non_string_bytes_per_pod"] = (heap - strings) / kPods;
  state.counters["rss_MiB"] = rss / (1024 * 1024);
  state.counters["index_ips"] = static_cast<double>(c->index->ip_count());
  state.counters["ip_table_bytes_per_pod"] =
      static_cast<double>(c->index->ip_table_bytes()) / kPods;
}
BENCHMARK(BM_IndexMemory)->Unit(benchmark::kMillisecond)->Iterations(1);

// Rebuilding the index (what the publisher does after a burst of changes).
void BM_IndexBuild(benchmark::State& state) {
  auto c = BuildCluster();
  for (auto _ : state) {
    auto index = c->store.Read([](const k8s::ClusterContents& contents) {
      return resolve::ClusterIndex::Build(contents, {});
    });
    benchmark::DoNotOptimize(index.get());
  }
}
BENCHMARK(BM_IndexBuild)->Unit(benchmark::kMillisecond)->Iterations(5);

// Lookups of pod IPs (hits) and external IPs (misses), as Resolve() does.
void BM_ResolveLookup(benchmark::State& state) {
  auto c = BuildCluster();
  std::vector<common::IpAddress> ips;
  for (int i = 0; i < 4096; ++i) {
    ips.push_back(*common::IpAddress::Parse(i % 4 == 3 ? "198.51.100." + std::to_string(i % 250)
                                                       : PodIp((i * 7919) % kPods)));
  }
  std::size_t n = 0, hits = 0;
  for (auto _ : state) {
    const resolve::Entity* e = c->index->FindByIp(ips[n++ & 4095]);
    if (e != nullptr) {
      resolve::Entity copy = *e;  // Resolve() returns a copy
      benchmark::DoNotOptimize(copy);
      ++hits;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["hit_ratio"] = static_cast<double>(hits) / static_cast<double>(n);
}
BENCHMARK(BM_ResolveLookup);

}  // namespace
}  // namespace caretta

BENCHMARK_MAIN();
