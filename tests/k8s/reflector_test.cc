// Reflectors against the fake kube-apiserver: paging, watch, faults, restarts, tokens.
#include "k8s/reflector.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fake_apiserver.h"

namespace caretta::k8s {
namespace {

using testing::FakeApiServer;
using testing::FakeApiServerOptions;
using testing::PodJson;
using testing::WaitFor;
using namespace std::chrono_literals;

// Records what a reflector delivers, in order.
class RecordingSink : public ReflectorSink {
 public:
  void Replace(const WatchedResource&, std::vector<Object> objects) override {
    std::lock_guard lock(mu_);
    ++replaces_;
    live_.clear();
    for (const Object& o : objects) live_.insert(Name(o));
  }
  void Upsert(const WatchedResource&, Object object) override {
    std::lock_guard lock(mu_);
    upserts_.push_back(Name(object));
    live_.insert(Name(object));
  }
  void Delete(const WatchedResource&, const Object& object) override {
    std::lock_guard lock(mu_);
    deletes_.push_back(Name(object));
    live_.erase(Name(object));
  }
  bool Has(const std::string& name) {
    std::lock_guard lock(mu_);
    return live_.contains(name);
  }
  int replaces() {
    std::lock_guard lock(mu_);
    return replaces_;
  }
  std::vector<std::string> upserts() {
    std::lock_guard lock(mu_);
    return upserts_;
  }
  std::vector<std::string> deletes() {
    std::lock_guard lock(mu_);
    return deletes_;
  }
  std::size_t live_count() {
    std::lock_guard lock(mu_);
    return live_.size();
  }

 private:
  static std::string Name(const Object& o) {
    return std::visit(
        [](const auto& x) -> std::string {
          if constexpr (requires { x.name; }) return std::string(std::string_view(x.name));
          return "";
        },
        o);
  }
  std::mutex mu_;
  int replaces_ = 0;
  std::set<std::string> live_;
  std::vector<std::string> upserts_, deletes_;
};

WatchedResource Pods() { return WatchedResources()[0]; }

// Compacts history past the pods reflector's resourceVersion (a change to another
// resource moves the global version on) and ends the watches: the re-watch gets 410.
void ExpirePodsResourceVersion(FakeApiServer& server) {
  const long rv = testing::JsonNumber(server.Stats(), "resource_version");
  server.Add(R"({"kind":"Service","apiVersion":"v1","metadata":{"name":"bump-)" +
             std::to_string(rv) + R"(","namespace":"default"},"spec":{}})");
  server.Control("POST", "/compact", "{}");
  server.Control("POST", "/close-watches");
}

ReflectorOptions FastOptions() {
  ReflectorOptions o;
  o.limits.page_size = 2;
  o.backoff.initial = 50ms;
  o.backoff.max = 500ms;
  return o;
}

std::shared_ptr<ApiClient> ClientFor(const FakeApiServer& server) {
  return std::make_shared<ApiClient>(LoadKubeconfig({server.kubeconfig}));
}

std::string ThreePods() {
  return "[" + PodJson("a", "shop", "10.244.0.1") + "," + PodJson("b", "shop", "10.244.0.2") + "," +
         PodJson("c", "shop", "10.244.0.3") + "]";
}

TEST(Reflector, PagedListThenWatchAddsAndDeletes) {
  FakeApiServer server;
  server.Add(ThreePods());
  RecordingSink sink;
  Reflector reflector(ClientFor(server), Pods(), &sink, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 10s));
  EXPECT_EQ(sink.live_count(), 3u);
  EXPECT_GE(testing::JsonNumber(server.Stats(), "list pods"), 2);  // 3 items, pages of 2

  server.Add(PodJson("d", "shop", "10.244.0.4"));
  server.Delete("Pod", "shop", "a");
  ASSERT_TRUE(WaitFor([&] { return sink.Has("d") && !sink.Has("a"); }, 10s));
  EXPECT_EQ(reflector.stats().added.load(), 1u);
  EXPECT_EQ(reflector.stats().deleted.load(), 1u);
  EXPECT_EQ(reflector.stats().decode_errors.load(), 0u);
}

TEST(Reflector, StartsWithTheServerDownAndConnectsWhenItComesUp) {
  FakeApiServerOptions first;
  first.extra_args = {"--token-file", "fixed-token"};
  std::string state_dir, kubeconfig;
  int port = 0;
  char tmpl[] = "/tmp/caretta-fake-api-down-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  state_dir = tmpl;
  first.state_dir = state_dir;
  first.extra_args = {"--token-file", state_dir + "/fixed-token"};
  {
    FakeApiServer once(first);  // creates certs, token and kubeconfig, then goes away
    port = once.port;
    kubeconfig = once.kubeconfig;
  }
  RecordingSink sink;
  Reflector reflector(std::make_shared<ApiClient>(LoadKubeconfig({kubeconfig})), Pods(), &sink,
                      FastOptions());
  std::this_thread::sleep_for(1s);
  EXPECT_FALSE(reflector.stats().synced.load());
  EXPECT_GE(reflector.stats().request_errors.load(), 1u);

  FakeApiServerOptions again = first;
  again.port = port;
  again.reuse_certs = true;
  FakeApiServer server(again);
  server.Add(ThreePods());
  ASSERT_TRUE(WaitFor([&] { return sink.Has("c"); }, 10s)) << server.LogTail();
  server.Stop();
  std::filesystem::remove_all(state_dir);
}

TEST(Reflector, ServerRestartWithNewHistoryRelists) {
  char tmpl[] = "/tmp/caretta-fake-api-restart-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  FakeApiServerOptions opts;
  opts.state_dir = dir;
  opts.extra_args = {"--token-file", dir + "/fixed-token"};
  RecordingSink sink;
  std::unique_ptr<Reflector> reflector;
  int port = 0;
  {
    FakeApiServer server(opts);
    port = server.port;
    server.Add(ThreePods());
    reflector = std::make_unique<Reflector>(ClientFor(server), Pods(), &sink, FastOptions());
    ASSERT_TRUE(WaitFor([&] { return sink.live_count() == 3; }, 10s));
  }
  // A new server (its state is lost) whose resourceVersions are far ahead: the old
  // resourceVersion is out of its window → 410 → relist shows the new contents.
  opts.port = port;
  opts.reuse_certs = true;
  opts.extra_args.push_back("--initial-rv");
  opts.extra_args.push_back("1000000");
  FakeApiServer server(opts);
  server.Add(PodJson("z", "shop", "10.244.0.26"));
  ASSERT_TRUE(WaitFor([&] { return sink.Has("z") && !sink.Has("a"); }, 15s)) << server.LogTail();
  EXPECT_GE(reflector->stats().relists.load(), 1u);
  EXPECT_GE(reflector->stats().resets.load(), 1u);
  reflector.reset();
  server.Stop();
  std::filesystem::remove_all(dir);
}

TEST(Reflector, GoneAfterCompactionRelists) {
  FakeApiServer server;
  server.Add(ThreePods());
  RecordingSink sink;
  Reflector reflector(ClientFor(server), Pods(), &sink, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 10s));
  server.Add(PodJson("x", "shop", "10.244.0.9"));
  ExpirePodsResourceVersion(server);
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().relists.load() >= 1; }, 10s));
  EXPECT_TRUE(sink.Has("x"));
  EXPECT_EQ(sink.replaces(), 2);
}

TEST(Reflector, CleanStreamEndRewatchesWithoutRelisting) {
  FakeApiServer server;
  server.Add(ThreePods());
  RecordingSink sink;
  Reflector reflector(ClientFor(server), Pods(), &sink, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 10s));
  server.Control("POST", "/close-watches");
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().resets.load() >= 1; }, 10s));
  server.Add(PodJson("after", "shop", "10.244.0.10"));
  ASSERT_TRUE(WaitFor([&] { return sink.Has("after"); }, 10s));
  EXPECT_EQ(reflector.stats().relists.load(), 0u);
}

TEST(Reflector, BookmarksAdvanceTheResourceVersion) {
  FakeApiServer server(testing::WithArgs({"--bookmark-interval", "0.2"}));
  RecordingSink sink;
  Reflector reflector(ClientFor(server), Pods(), &sink, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 10s));
  const long listed = std::stol(reflector.resource_version());
  // Changes to another resource move the global resourceVersion; pods see only bookmarks.
  server.Add(R"({"kind":"Service","apiVersion":"v1","metadata":{"name":"s","namespace":"shop"},
                 "spec":{"clusterIP":"10.96.0.9","clusterIPs":["10.96.0.9"]}})");
  const long now = testing::JsonNumber(server.Stats(), "resource_version");
  ASSERT_GT(now, listed);
  ASSERT_TRUE(WaitFor([&] { return std::stol(reflector.resource_version()) >= now; }, 10s));
  EXPECT_GE(reflector.stats().bookmarks.load(), 1u);
  EXPECT_EQ(reflector.stats().added.load(), 0u);
}

TEST(Reflector, StreamCutMidObjectIsRecoveredFromTheLastResourceVersion) {
  FakeApiServer server;
  RecordingSink sink;
  Reflector reflector(ClientFor(server), Pods(), &sink, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 10s));
  server.Fault(R"({"type":"drop_watch","resource":"pods"})");
  server.Add(PodJson("cut", "shop", "10.244.0.11"));
  ASSERT_TRUE(WaitFor([&] { return sink.Has("cut"); }, 10s));
  EXPECT_GE(reflector.stats().resets.load(), 1u);
  EXPECT_GE(reflector.stats().decode_errors.load(), 1u);  // the half event, counted
  EXPECT_EQ(reflector.stats().relists.load(), 0u);
  EXPECT_EQ(sink.upserts(), std::vector<std::string>{"cut"});  // applied exactly once
}

TEST(Reflector, UnauthorizedUntilTheTokenFileIsFixedThenFollowsRotation) {
  FakeApiServer server(testing::WithArgs({"--kubeconfig-token-file"}));
  const std::string client_token = server.state_dir + "/client-token";
  auto write_token = [&](const std::string& t) {
    std::ofstream(client_token + ".tmp") << t << "\n";
    std::filesystem::rename(client_token + ".tmp", client_token);
  };
  write_token("wrong-token");
  auto client = ClientFor(server);
  RecordingSink sink;
  server.Add(ThreePods());
  Reflector reflector(client, Pods(), &sink, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().request_errors.load() >= 1; }, 10s));
  EXPECT_FALSE(reflector.stats().synced.load());
  EXPECT_GE(testing::JsonNumber(server.Stats(), "401"), 1);

  write_token(server.token);  // e.g. kubelet writes the rotated token
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 10s));

  // Rotation: the server stops accepting the old token and the file gets the new one.
  server.Control("POST", "/tokens", R"({"tokens":["rotated-token-1"]})");
  server.Control("POST", "/close-watches");
  server.Add(PodJson("after-rotation", "shop", "10.244.0.12"));
  ASSERT_TRUE(WaitFor([&] { return sink.Has("after-rotation"); }, 10s)) << server.LogTail();
  EXPECT_EQ(client->tokens().Current(), "rotated-token-1");
}

TEST(Reflector, MalformedObjectsLinesAndListsAreSkippedAndCounted) {
  FakeApiServer server;
  server.Add(ThreePods());
  server.Fault(R"({"type":"malformed_list","mode":"item","resource":"pods"})");
  RecordingSink sink;
  ReflectorOptions options = FastOptions();
  options.limits.page_size = 100;
  Reflector reflector(ClientFor(server), Pods(), &sink, options);
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 10s));
  EXPECT_EQ(sink.live_count(), 3u);
  EXPECT_EQ(reflector.stats().decode_errors.load(), 1u);  // the bogus item

  int n = 0;
  for (const char* mode : {"syntax", "object", "type"}) {
    server.Fault(std::string(R"({"type":"malformed_event","resource":"pods","mode":")") + mode +
                 "\"}");
    std::string name = "after-" + std::string(mode);
    server.Add(PodJson(name, "shop", "10.244.1." + std::to_string(++n)));
    ASSERT_TRUE(WaitFor([&] { return sink.Has(name); }, 10s)) << mode;
  }
  EXPECT_EQ(reflector.stats().decode_errors.load(), 4u);

  // A list cut in half is retried, not applied half.
  server.Fault(R"({"type":"malformed_list","mode":"syntax","resource":"pods"})");
  ExpirePodsResourceVersion(server);
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().relists.load() >= 1; }, 15s));
  EXPECT_EQ(sink.live_count(), 6u);
  EXPECT_EQ(reflector.stats().decode_errors.load(), 5u);
}

TEST(Reflector, TenThousandWatchEventsAreAppliedInOrder) {
  FakeApiServer server;
  RecordingSink sink;
  Reflector reflector(ClientFor(server), Pods(), &sink, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector.stats().synced.load(); }, 10s));
  constexpr int kEvents = 10000;
  std::vector<std::string> expected;
  std::string ops = R"({"ops":[)";
  for (int i = 0; i < kEvents; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "p-%05d", i);
    expected.push_back(name);
    if (i > 0) ops += ',';
    ops +=
        R"({"op":"upsert","object":)" +
        PodJson(name, "bulk", "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250)) +
        "}";
  }
  ops += "]}";
  server.Control("POST", "/batch", ops);
  ASSERT_TRUE(WaitFor([&] { return sink.upserts().size() >= kEvents; }, 60s))
      << sink.upserts().size();
  EXPECT_EQ(sink.upserts(), expected);
  EXPECT_EQ(reflector.stats().decode_errors.load(), 0u);
}

TEST(Reflector, DestructionInterruptsAnOpenWatchPromptly) {
  FakeApiServer server;
  RecordingSink sink;
  auto reflector = std::make_unique<Reflector>(ClientFor(server), Pods(), &sink, FastOptions());
  ASSERT_TRUE(WaitFor([&] { return reflector->stats().synced.load(); }, 10s));
  std::this_thread::sleep_for(200ms);  // the watch is open and idle
  auto started = std::chrono::steady_clock::now();
  reflector.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 500ms);
}

}  // namespace
}  // namespace caretta::k8s
