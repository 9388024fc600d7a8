// The mirror's compact field types: shared strings, their pool, inline vectors.
#include "k8s/compact.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "k8s/cluster_store.h"
#include "k8s/resources.h"

namespace caretta::k8s {
namespace {

TEST(SharedString, BehavesLikeAnImmutableString) {
  SharedString empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty, "");
  EXPECT_EQ(empty.use_count(), 0u);
  SharedString a = std::string("team-7");
  SharedString b = a;
  EXPECT_TRUE(a.SharesWith(b));
  EXPECT_EQ(a.use_count(), 2u);
  EXPECT_EQ(b, "team-7");
  EXPECT_EQ(b, std::string("team-7"));
  EXPECT_EQ(b.str() + "/x", "team-7/x");
  SharedString c("team-7");
  EXPECT_FALSE(a.SharesWith(c));
  EXPECT_EQ(a, c);  // equal by value
  EXPECT_NE(a, SharedString("team-8"));
  SharedString moved = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(a.use_count(), 2u);
}

TEST(StringPool, EqualValuesShareOneCopyAndUnusedOnesAreSwept) {
  StringPool pool;
  SharedString a("kube-system"), b(std::string("kube-system")), none;
  pool.Intern(a);
  pool.Intern(b);
  pool.Intern(none);
  EXPECT_TRUE(a.SharesWith(b));
  EXPECT_EQ(pool.size(), 1u);
  // Churn: names interned once and dropped do not accumulate.
  for (int i = 0; i < 10000; ++i) {
    SharedString s("rs-" + std::to_string(i));
    pool.Intern(s);
  }
  EXPECT_LT(pool.size(), 2100u);
  SharedString again("kube-system");
  pool.Intern(again);
  EXPECT_TRUE(again.SharesWith(a));  // still held, so never swept
}

TEST(InlineVector, KeepsTwoInlineAndSpillsMore) {
  using V = InlineVector<common::IpAddress, 2>;
  EXPECT_EQ(sizeof(V), 35u);
  std::vector<common::IpAddress> ips;
  for (int i = 1; i <= 5; ++i)
    ips.push_back(*common::IpAddress::Parse("10.0.0." + std::to_string(i)));
  V v;
  EXPECT_TRUE(v.empty());
  for (const auto& ip : ips) {
    v.push_back(ip);
    V copy = v;
    EXPECT_EQ(copy, v);
    ASSERT_EQ(copy.size(), v.size());
    EXPECT_EQ(std::vector<common::IpAddress>(copy.begin(), copy.end()),
              std::vector<common::IpAddress>(ips.begin(), ips.begin() + v.size()));
  }
  V moved = std::move(v);
  EXPECT_EQ(moved.size(), 5u);
  EXPECT_EQ(moved[4], ips[4]);
  moved = V{ips[0]};
  EXPECT_EQ(moved.size(), 1u);
  const V& alias = moved;
  moved = alias;  // self-assignment is harmless
  EXPECT_EQ(moved[0], ips[0]);
  InlineVector<std::uint16_t, 4> ports;
  for (int i = 0; i < 300; ++i) ports.push_back(static_cast<std::uint16_t>(i));
  EXPECT_EQ(ports.size(), 255u);  // capped
  EXPECT_EQ(ports[254], 254);
}

TEST(ClusterStore, PodsShareTheirRepeatedStrings) {
  ClusterStore store;
  WatchedResource pods;
  for (auto& r : WatchedResources())
    if (r.resource == "pods") pods = r;
  std::vector<Object> objects;
  for (int i = 0; i < 100; ++i) {
    PodObject p;
    p.uid = Uid::Parse("pod-" + std::to_string(i));
    p.name = "web-" + std::to_string(i);
    p.namespace_ = std::string("shop");
    p.node_name = std::string("node-") + std::to_string(i % 2);
    p.controller = {"ReplicaSet", std::string("web-5d9c7b8f6d"), Uid::Parse("rs")};
    objects.push_back(std::move(p));
  }
  store.Replace(pods, std::move(objects));
  EXPECT_EQ(store.pooled_strings(), 5u);  // shop, node-0, node-1, ReplicaSet, web-...
  store.Read([](const ClusterContents& c) {
    const PodObject& a = c.pods.at(Uid::Parse("pod-0"));
    const PodObject& b = c.pods.at(Uid::Parse("pod-2"));
    EXPECT_TRUE(a.namespace_.SharesWith(b.namespace_));
    EXPECT_TRUE(a.node_name.SharesWith(b.node_name));
    EXPECT_TRUE(a.controller.name.SharesWith(b.controller.name));
    return 0;
  });
}

}  // namespace
}  // namespace caretta::k8s
