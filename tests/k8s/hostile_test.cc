// The Kubernetes client against a hostile API server (issue 11): every answer that
// OOM-killed the agent or stopped all naming is served here, and the client must stay
// within a memory bound (measured in-process: peak RSS since a reset of VmHWM), count
// what it dropped, and still index the good objects. Each test takes a few seconds.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdio>
#include <cstring>

#include "fake_apiserver.h"
#include "hostile_apiserver.h"
#include "k8s/cluster_store.h"
#include "k8s/reflector.h"
#include "resolve/k8s_index.h"
#include "resolve/k8s_resolver.h"

namespace caretta::k8s {
namespace {

using testing::HostileApiServer;
using testing::HostileRequest;
using testing::HostileWriter;
using testing::WaitFor;
using namespace std::chrono_literals;

constexpr std::size_t kMiB = 1u << 20;

// Sanitizers keep freed memory in quarantine and replace malloc: RSS figures then
// say nothing about the client, so only the functional checks run.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// Peak RSS above the level when it was created (VmHWM reset through
// /proc/self/clear_refs).
class MemoryProbe {
 public:
  MemoryProbe() : base_(testing::CurrentRss()), reset_(testing::ResetPeakRss()) {}
  // False under a sanitizer or when the kernel refuses the reset: bounds not checked.
  bool measurable() const { return reset_ && !kSanitized; }
  std::size_t peak_delta() const {
    const std::size_t peak = testing::PeakRss();
    return peak > base_ ? peak - base_ : 0;
  }
  std::size_t rss_delta() const {
    const std::size_t rss = testing::CurrentRss();
    return rss > base_ ? rss - base_ : 0;
  }
  // One line per test with its figures (collected for the README).
  void Report(const char* what) const {
    if (!measurable()) {
      std::printf("FIGURE %s: not measured (%s)\n", what,
                  kSanitized ? "sanitizer build" : "VmHWM cannot be reset");
      return;
    }
    std::printf("FIGURE %s: peak +%.1f MiB, now +%.1f MiB\n", what,
                static_cast<double>(peak_delta()) / kMiB, static_cast<double>(rss_delta()) / kMiB);
  }

 private:
  std::size_t base_;
  bool reset_;
};

#define EXPECT_PEAK_BELOW(probe, bound)       \
  do {                                        \
    if ((probe).measurable()) {               \
      EXPECT_LT((probe).peak_delta(), bound); \
    }                                         \
  } while (0)
#define EXPECT_RSS_BELOW(probe, bound)       \
  do {                                       \
    if ((probe).measurable()) {              \
      EXPECT_LT((probe).rss_delta(), bound); \
    }                                        \
  } while (0)

// Fixes glibc's mmap threshold (no-op under a sanitizer's allocator).
void FixMmapThreshold() {
  if (!kSanitized) {
    ASSERT_EQ(mallopt(M_MMAP_THRESHOLD, 256 << 10), 1);
  }
}

WatchedResource Pods() { return WatchedResources()[0]; }

ReflectorOptions FastOptions() {
  ReflectorOptions o;  // the default limits: what the agent runs with
  o.backoff.initial = 50ms;
  o.backoff.max = 200ms;
  return o;
}

std::shared_ptr<ApiClient> ClientFor(const HostileApiServer& server) {
  ClusterConfig config;
  config.server = server.url();
  config.source = "hostile test";
  return std::make_shared<ApiClient>(std::move(config));
}

// Pods are keyed by uid; a name that is not a UUID is hashed into one.
std::string PodItem(const std::string& name, const std::string& ip,
                    const std::string& extra_metadata = "") {
  return testing::PodJson(name, "shop", ip, R"(,"uid":")" + name + "\"" + extra_metadata);
}

std::string Page(const std::string& items, const std::string& continue_token = "") {
  return R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7")" +
         (continue_token.empty() ? "" : R"(,"continue":")" + continue_token + "\"") +
         R"(},"items":[)" + items + "]}";
}

std::size_t PodCount(ClusterStore& store) {
  return store.Read([](const ClusterContents& c) { return c.pods.size(); });
}

// An answer to every watch: open, idle, until the client leaves.
void IdleWatch(HostileWriter& w) {
  if (w.Head(200)) w.HoldOpen(20s);
}

TEST(HostileApiServer, HugeListPageIsCutAtItsBoundThenRecovers) {
  MemoryProbe memory;
  std::atomic<bool> behave{false};
  const std::string pod = PodItem("filler", "10.9.0.1") + ",";
  HostileApiServer server([&](const HostileRequest& r, HostileWriter& w) {
    if (r.watch()) return IdleWatch(w);
    if (behave) {
      w.Json(200, Page(PodItem("a", "10.9.1.1") + "," + PodItem("b", "10.9.1.2")));
      return;
    }
    // 209 MB in one page, whatever limit= asks.
    if (!w.Head(200) ||
        !w.Send(R"({"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[)"))
      return;
    if (testing::SendRepeated(w, pod, 209'000'000)) w.Send(PodItem("last", "10.9.0.2") + "]}");
  });
  ClusterStore store;
  Reflector reflector(ClientFor(server), Pods(), &store, FastOptions());
  // 500 → 250 → ... → 1 objects per page, then the LIST fails: 10 refusals.
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().exceeded(Bound::kPageBytes) >= 10; }, 20s));
  EXPECT_FALSE(reflector.stats().synced.load());
  const auto queries = server.list_queries();
  EXPECT_NE(std::find(queries.begin(), queries.end(), "limit=1"), queries.end());
  memory.Report("209 MB LIST page");
  EXPECT_PEAK_BELOW(memory, 64 * kMiB);  // main: 621 MB peak

  behave = true;
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 10s));
  EXPECT_EQ(PodCount(store), 2u);
}

TEST(HostileApiServer, GzipBombIsCutAfterItsInflatedBound) {
  // 1 GiB of JSON whitespace inside a list, about 1 MB compressed.
  const std::string bomb =
      testing::GzipBomb(R"({"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[)",
                        std::string(kMiB, ' '), 1024, "]}");
  ASSERT_LT(bomb.size(), 2 * kMiB);
  MemoryProbe memory;
  HostileApiServer server([&](const HostileRequest& r, HostileWriter& w) {
    if (r.watch()) return IdleWatch(w);
    if (w.Head(200, "Content-Encoding: gzip\r\n")) w.Send(bomb);
  });
  ClusterStore store;
  Reflector reflector(ClientFor(server), Pods(), &store, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().exceeded(Bound::kPageBytes) >= 10; }, 20s));
  EXPECT_FALSE(reflector.stats().synced.load());
  memory.Report("1 MB gzip bomb (1 GiB inflated)");
  EXPECT_PEAK_BELOW(memory, 64 * kMiB);  // main: OOM-killed at 320 MiB
}

TEST(HostileApiServer, GzipStreamThatNeverInflatesIsCutOnTheWire) {
  MemoryProbe memory;
  HostileApiServer server([&](const HostileRequest& r, HostileWriter& w) {
    if (r.watch()) return IdleWatch(w);
    // A gzip header whose comment (FCOMMENT) never ends: bytes arrive, nothing inflates.
    const std::string header("\x1f\x8b\x08\x10\0\0\0\0\0\x03", 10);
    if (w.Head(200, "Content-Encoding: gzip\r\n") && w.Send(header))
      testing::SendRepeated(w, "comment ", 1'000'000'000);
  });
  ClusterStore store;
  Reflector reflector(ClientFor(server), Pods(), &store, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().exceeded(Bound::kPageBytes) >= 2; }, 20s));
  EXPECT_FALSE(reflector.stats().synced.load());
  memory.Report("endless gzip comment");
  EXPECT_PEAK_BELOW(memory, 32 * kMiB);
}

TEST(HostileApiServer, ContinueTokenThatNeverEndsFailsTheListAfterMaxPages) {
  MemoryProbe memory;
  std::atomic<int> page{0};
  HostileApiServer server([&](const HostileRequest& r, HostileWriter& w) {
    if (r.watch()) return IdleWatch(w);
    const int n = page++;
    w.Json(200, Page(PodItem("p-" + std::to_string(n), "10.8.0.1"), "next-" + std::to_string(n)));
  });
  ClusterStore store;
  Reflector reflector(ClientFor(server), Pods(), &store, FastOptions());
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().exceeded(Bound::kListPages) >= 1; }, 30s));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_FALSE(reflector.stats().synced.load());
  EXPECT_EQ(PodCount(store), 0u);  // never applied half
  EXPECT_GE(server.lists(), FastOptions().limits.max_pages);
  std::printf("FIGURE endless continue: LIST failed after %d pages in %.2f s\n",
              FastOptions().limits.max_pages, seconds);
  memory.Report("endless continue (1 object per page)");
  EXPECT_PEAK_BELOW(memory, 32 * kMiB);  // main: OOM-killed
}

TEST(HostileApiServer, EndlessFullPagesStopAtTheObjectBound) {
  MemoryProbe memory;
  std::atomic<int> page{0};
  HostileApiServer server([&](const HostileRequest& r, HostileWriter& w) {
    if (r.watch()) return IdleWatch(w);
    const int n = page++;
    std::string items;
    const int limit = std::stoi(r.param("limit"));
    for (int i = 0; i < limit; ++i) {
      if (i > 0) items += ',';
      items += PodItem("p-" + std::to_string(n) + "-" + std::to_string(i),
                       "10." + std::to_string(n % 250) + "." + std::to_string(i / 250) + "." +
                           std::to_string(i % 250 + 1));
    }
    w.Json(200, Page(items, "next-" + std::to_string(n)));
  });
  ClusterStore store;
  Reflector reflector(ClientFor(server), Pods(), &store, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().exceeded(Bound::kListObjects) >= 1; }, 60s));
  EXPECT_FALSE(reflector.stats().synced.load());
  EXPECT_EQ(PodCount(store), 0u);
  memory.Report("endless continue (500 objects per page)");
  EXPECT_PEAK_BELOW(memory, 128 * kMiB);  // 200,000 decoded pods held at most
}

TEST(HostileApiServer, WatchLineWithoutNewlineDropsTheStreamAndRelists) {
  MemoryProbe memory;
  HostileApiServer server([&](const HostileRequest& r, HostileWriter& w) {
    if (!r.watch()) {
      w.Json(200, Page(PodItem("a", "10.7.0.1")));
      return;
    }
    if (w.Head(200) && w.Send(R"({"type":"ADDED","object":{"metadata":{"name":")"))
      testing::SendRepeated(w, "x", 1'000'000'000);
  });
  ClusterStore store;
  Reflector reflector(ClientFor(server), Pods(), &store, FastOptions());
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().exceeded(Bound::kWatchLine) >= 2; }, 20s));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GE(server.lists(), 2);  // relisted after the first dropped stream
  EXPECT_EQ(PodCount(store), 1u);
  std::printf("FIGURE watch line: 2 streams dropped at 8 MiB in %.2f s\n", seconds);
  memory.Report("watch line without newline");
  EXPECT_PEAK_BELOW(memory, 64 * kMiB);  // main: +234 MB in 120 s, then killed
}

TEST(HostileApiServer, UndecodableObjectsAreSkippedOneByOneAndCounted) {
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  const std::string list = Page(
      PodItem("good-a", "10.6.0.1") + "," +
      R"({"metadata":{"name":"nested","namespace":"shop","labels":{"x":)" + deep +
      R"(}},"status":{"podIP":"10.6.0.3"}})" + "," + PodItem("surrogate-\\ud800", "10.6.0.4") +
      "," + PodItem("surrogate-in-annotation", "10.6.0.5", R"(,"annotations":{"x":"\udc00"})") +
      "," + R"("not an object")" + "," + PodItem("good-b", "10.6.0.6"));
  const std::string events =
      R"({"type":"ADDED","object":{"metadata":{"name":"w-deep","labels":{"x":)" + deep + "}}}}\n" +
      R"({"type":"ADDED","object":{"metadata":{"name":"w-\ud800","namespace":"shop"}}})" + "\n" +
      R"({"type":"ADDED","object":)" + PodItem("good-c", "10.6.0.7") + "}\n";
  HostileApiServer server([&](const HostileRequest& r, HostileWriter& w) {
    if (!r.watch()) {
      w.Json(200, list);
      return;
    }
    if (w.Head(200) && w.Send(events)) w.HoldOpen(20s);
  });
  ClusterStore store;
  Reflector reflector(ClientFor(server), Pods(), &store, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 10s))
      << "one bad object must not fail the LIST";
  ASSERT_TRUE(WaitFor([&] { return PodCount(store) == 3; }, 10s)) << PodCount(store);
  const auto& stats = reflector.stats();
  // Refused by the object parser, each on its own: 10,000 nested arrays, a lone
  // surrogate in the name and in an annotation (LIST), nesting and a lone surrogate
  // (watch). Valid JSON that is no object: "not an object".
  EXPECT_EQ(stats.skipped(SkipReason::kInvalidJson), 3u + 2u);
  EXPECT_EQ(stats.skipped(SkipReason::kMalformed), 1u);
  EXPECT_EQ(stats.exceeded(Bound::kWatchLine), 0u);
  auto index = store.Read([](const ClusterContents& c) {
    return resolve::ClusterIndex::Build(c, resolve::IndexOptions{});
  });
  for (const char* ip : {"10.6.0.1", "10.6.0.6", "10.6.0.7"}) {
    const resolve::Entity* e = index->FindByIp(*common::IpAddress::Parse(ip));
    ASSERT_NE(e, nullptr) << ip;
    EXPECT_EQ(e->kind, "Pod");
  }
  EXPECT_EQ(index->FindByIp(*common::IpAddress::Parse("10.6.0.3")), nullptr);
}

TEST(HostileApiServer, PagesThatAreNotAListAreRetriedNotApplied) {
  std::atomic<int> served{0};
  const std::vector<std::string> bad = {
      "<html>502 Bad Gateway</html>",
      "[1,2,3]",
      "",
      R"({"items":"nope"})",
      R"({"metadata":{"resourceVersion":"7"},"items":[)" + PodItem("cut", "10.3.0.1"),
      std::string(100000, '[')};
  HostileApiServer server([&](const HostileRequest& r, HostileWriter& w) {
    if (r.watch()) return IdleWatch(w);
    const int n = served++;
    if (n < static_cast<int>(bad.size())) {
      w.Json(200, bad[n]);
      return;
    }
    w.Json(200, Page(PodItem("good", "10.3.0.2")));
  });
  ClusterStore store;
  Reflector reflector(ClientFor(server), Pods(), &store, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 20s));
  EXPECT_EQ(PodCount(store), 1u);  // the half page with "cut" was never applied
  EXPECT_EQ(reflector.stats().decode_errors.load(), bad.size());
}

std::size_t HeapInUse() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// 500 pods with 250 KiB of annotations and 16 KiB of labels each (both legal), none
// of which the agent uses, from an honest server (limit= and continue= followed).
void ListHugeAnnotations(const char* figure, std::size_t max_peak, std::size_t max_after) {
  const std::size_t heap_before = HeapInUse();
  MemoryProbe memory;
  constexpr int kPods = 500;
  HostileApiServer server([&](const HostileRequest& r, HostileWriter& w) {
    if (r.watch()) return IdleWatch(w);
    const int offset = r.param("continue").empty() ? 0 : std::stoi(r.param("continue"));
    const int limit = std::stoi(r.param("limit"));
    const int end = std::min(kPods, offset + limit);
    if (!w.Head(200)) return;
    if (!w.Send(R"({"kind":"PodList","metadata":{"resourceVersion":"7")" +
                (end < kPods ? R"(,"continue":")" + std::to_string(end) + "\"" : "") +
                R"(},"items":[)"))
      return;
    for (int i = offset; i < end; ++i) {
      const std::string name = "big-" + std::to_string(i);
      if (!w.Send(std::string(i > offset ? "," : "") + R"({"metadata":{"name":")" + name +
                  R"(","uid":")" + name + R"(","namespace":"shop","annotations":{"blob":")") ||
          !testing::SendRepeated(w, "a", 250u << 10) || !w.Send(R"("},"labels":{"blob":")") ||
          !testing::SendRepeated(w, "b", 16u << 10) ||
          !w.Send(R"("}},"spec":{"nodeName":"node-1"},"status":{"phase":"Running","podIP":"10.5.)" +
                  std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + "\"}}"))
        return;
    }
    w.Send("]}");
  });
  ClusterStore store;
  Reflector reflector(ClientFor(server), Pods(), &store, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 60s));
  EXPECT_EQ(PodCount(store), static_cast<std::size_t>(kPods));
  EXPECT_GE(reflector.stats().exceeded(Bound::kPageBytes), 1u);  // pages were made smaller
  auto index = store.Read([](const ClusterContents& c) {
    return resolve::ClusterIndex::Build(c, resolve::IndexOptions{});
  });
  const resolve::Entity* last = index->FindByIp(*common::IpAddress::Parse("10.5.1.250"));
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->name, "big-499");
  index.reset();
  std::this_thread::sleep_for(100ms);  // the reflector is in its (idle) watch now
  memory.Report(figure);
  const std::size_t heap_after = HeapInUse();
  std::printf("FIGURE %s: heap in use +%.2f MiB\n", figure,
              static_cast<double>(heap_after > heap_before ? heap_after - heap_before : 0) / kMiB);
  EXPECT_PEAK_BELOW(memory, max_peak);  // main: 282 MiB
  EXPECT_RSS_BELOW(memory, max_after);  // main: 157 MB stayed
  // What the client still holds (not what the allocator keeps free): 500 compact pods
  // and its parsers' reserve; nothing of the 133 MB listed.
  if (memory.measurable()) {
    EXPECT_LT(heap_after - std::min(heap_after, heap_before), 4 * kMiB);
  }
  EXPECT_LT(store.pooled_string_bytes(), 4096u);
}

TEST(HostileApiServer, HugeAnnotationsListInSmallerPagesAndAreNotKept) {
  // glibc's defaults: freed page buffers partly stay in the reflector thread's arena
  // (its mmap threshold rises to the largest block freed), bounded by one page.
  ListHugeAnnotations("500 pods x 250 KiB annotations", 96 * kMiB, 32 * kMiB);
}

TEST(HostileApiServer, HugeAnnotationsWithAFixedMmapThresholdGiveEverythingBack) {
  // With mallopt(M_MMAP_THRESHOLD) set (the threshold no longer grows), large buffers
  // are mapped and unmapped each time: what the agent's main should do.
  FixMmapThreshold();
  ListHugeAnnotations("500 pods x 250 KiB annotations, M_MMAP_THRESHOLD=256 KiB", 48 * kMiB,
                      8 * kMiB);
}

// Everything at once, through the resolver the agent runs: ten reflectors, each
// resource hostile in its own way, while the good pods of a LIST that also holds
// undecodable ones must still resolve. The figure is the whole client's peak.
void EveryResourceHostile(const char* figure, std::size_t max_peak) {
  MemoryProbe memory;
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  const std::string bomb =
      testing::GzipBomb(R"({"kind":"List","metadata":{"resourceVersion":"7"},"items":[)",
                        std::string(kMiB, ' '), 1024, "]}");
  const std::string filler = PodItem("filler", "10.9.0.1") + ",";
  std::atomic<int> page{0};
  HostileApiServer server([&](const HostileRequest& r, HostileWriter& w) {
    const std::string& p = r.path;
    auto is = [&](const char* suffix) {
      return p.size() >= std::strlen(suffix) && p.ends_with(suffix);
    };
    if (r.watch()) {
      if (is("/pods") || is("/deployments")) {  // an event that never ends
        if (w.Head(200) && w.Send(R"({"type":"ADDED","object":{"metadata":{"name":")"))
          testing::SendRepeated(w, "x", 1'000'000'000);
        return;
      }
      return IdleWatch(w);
    }
    if (is("/pods")) {
      w.Json(200,
             Page(PodItem("good-a", "10.6.0.1") + "," +
                  R"({"metadata":{"name":"nested","labels":{"x":)" + deep + "}}}," +
                  PodItem("surrogate-\\ud800", "10.6.0.4") + "," + PodItem("good-b", "10.6.0.6")));
    } else if (is("/nodes")) {
      if (w.Head(200, "Content-Encoding: gzip\r\n")) w.Send(bomb);
    } else if (is("/services")) {  // continue forever, full pages
      const int n = page++;
      std::string items;
      for (int i = 0; i < std::stoi(r.param("limit")); ++i)
        items += (i ? "," : "") +
                 PodItem("s-" + std::to_string(n) + "-" + std::to_string(i), "10.4.0.1");
      w.Json(200, Page(items, "next-" + std::to_string(n)));
    } else if (is("/endpointslices") || is("/replicasets")) {  // 209 MB in one page
      if (w.Head(200) && w.Send(R"({"kind":"List","metadata":{"resourceVersion":"7"},"items":[)") &&
          testing::SendRepeated(w, filler, 209'000'000))
        w.Send(PodItem("last", "10.9.0.2") + "]}");
    } else {
      w.Json(200, R"({"kind":"List","metadata":{"resourceVersion":"7"},"items":[]})");
    }
  });
  ClusterConfig config;
  config.server = server.url();
  resolve::KubernetesOptions options;
  options.publish_interval = 20ms;
  options.reflector = FastOptions();
  options.env = [](const std::string&) { return std::nullopt; };
  resolve::KubernetesResolver resolver(config, options);
  auto resolves = [&](const char* ip) {
    auto e = resolver.Resolve(resolve::Endpoint{*common::IpAddress::Parse(ip), 80, 0, 0, 0, false});
    return e && e->kind == "Pod";
  };
  ASSERT_TRUE(WaitFor([&] { return resolves("10.6.0.1") && resolves("10.6.0.6"); }, 10s));
  // Let every hostile answer be tried several times.
  ASSERT_TRUE(WaitFor(
      [&] {
        std::uint64_t bounds = 0, lines = 0;
        for (const auto& [name, stats] : resolver.ReflectorStats()) {
          bounds += stats->exceeded(Bound::kPageBytes) + stats->exceeded(Bound::kListObjects);
          lines += stats->exceeded(Bound::kWatchLine);
        }
        return bounds >= 20 && lines >= 2;
      },
      60s));
  EXPECT_FALSE(resolver.Synced());
  EXPECT_FALSE(resolver.AddressesSynced());  // nodes, Services, EndpointSlices never list
  std::string metrics;
  resolver.AppendMetrics(metrics);
  EXPECT_NE(
      metrics.find(R"(caretta_k8s_objects_skipped_total{resource="pods",reason="invalid_json"})"),
      std::string::npos);
  memory.Report(figure);
  EXPECT_PEAK_BELOW(memory, max_peak);
}

TEST(HostileApiServer, ResolverStaysFarBelowTheChartLimitWhenEveryResourceIsHostile) {
  // glibc's defaults: each reflector thread's arena keeps some of what it freed.
  EveryResourceHostile("every resource hostile at once (resolver)", 200 * kMiB);  // chart: 320
}

TEST(HostileApiServer, EveryResourceHostileWithAFixedMmapThreshold) {
  FixMmapThreshold();
  EveryResourceHostile("every resource hostile at once, M_MMAP_THRESHOLD=256 KiB", 100 * kMiB);
}

}  // namespace
}  // namespace caretta::k8s
