#include "links/link_table.h"

#include <gtest/gtest.h>

namespace caretta::links {
namespace {

resolve::Entity W(const std::string& name, const std::string& ns = "shop",
                  const std::string& kind = "Deployment") {
  return resolve::Entity{name, ns, kind, "", ""};
}

LinkDelta D(const std::string& client, const std::string& server, std::uint16_t port,
            tracer::Role role, std::uint64_t sent, std::uint64_t received, bool opened = false,
            bool closed = false) {
  LinkDelta d;
  d.key = LinkKey{W(client), W(server), port, role, {}, 0};
  d.Add(sent, received, 0, opened, closed, false);
  return d;
}

TEST(LinkTable, FoldsConnectionsOfTheSameLink) {
  LinkTable t(100);
  t.Apply({D("a", "b", 80, tracer::Role::kClient, 10, 1, true),
           D("a", "b", 80, tracer::Role::kClient, 20, 2, true)},
          1);
  auto s = t.Snapshot();
  ASSERT_EQ(s->links.size(), 1u);
  const LinkTotals& l = s->links.begin()->second;
  EXPECT_EQ(l.bytes_sent, 30u);
  EXPECT_EQ(l.bytes_received, 3u);
  EXPECT_EQ(l.connections_opened, 2u);
  EXPECT_EQ(l.active_connections, 2);
  EXPECT_EQ(l.state, LinkState::kOpen);
}

TEST(LinkTable, RolesAndPortsAreSeparateLinks) {
  LinkTable t(100);
  t.Apply(
      {D("a", "b", 80, tracer::Role::kClient, 1, 0), D("a", "b", 80, tracer::Role::kServer, 1, 0),
       D("a", "b", 81, tracer::Role::kClient, 1, 0)},
      1);
  EXPECT_EQ(t.Snapshot()->links.size(), 3u);
}

TEST(LinkTable, TotalsSurviveClosesAndNeverGoBackwards) {
  LinkTable t(100);
  t.Apply({D("a", "b", 80, tracer::Role::kClient, 100, 0, true)}, 1);
  t.Apply({D("a", "b", 80, tracer::Role::kClient, 5, 0, false, true)}, 2);
  auto s = t.Snapshot();
  const LinkTotals& l = s->links.begin()->second;
  EXPECT_EQ(l.bytes_sent, 105u);
  EXPECT_EQ(l.active_connections, 0);
  EXPECT_EQ(l.state, LinkState::kClosed);
  t.Apply({}, 3);
  EXPECT_EQ(t.Snapshot()->links.begin()->second.bytes_sent, 105u);
}

TEST(LinkTable, CapCountsOverflowInsteadOfGrowing) {
  LinkTable t(2);
  t.Apply({D("a", "b", 1, tracer::Role::kClient, 1, 0), D("a", "b", 2, tracer::Role::kClient, 1, 0),
           D("a", "b", 3, tracer::Role::kClient, 7, 3)},
          1);
  auto s = t.Snapshot();
  EXPECT_EQ(s->links.size(), 2u);
  EXPECT_EQ(s->links_over_cap, 1u);
  EXPECT_EQ(s->bytes_over_cap, 10u);
}

TEST(LinkTable, FailedConnectsAreNotLinks) {
  LinkTable t(10);
  LinkDelta d;
  d.key = LinkKey{W("a"), W("b"), 80, tracer::Role::kClient, {}, 0};
  d.Add(0, 0, 0, true, true, /*socket_failed=*/true);
  t.Apply({d, d}, 1);
  auto s = t.Snapshot();
  EXPECT_TRUE(s->links.empty());
  ASSERT_EQ(s->failed_connects.size(), 1u);
  EXPECT_EQ(s->failed_connects.begin()->second, 2u);
}

TEST(LinkTable, SnapshotIsImmutableForItsReader) {
  LinkTable t(10);
  t.Apply({D("a", "b", 80, tracer::Role::kClient, 1, 0)}, 1);
  auto before = t.Snapshot();
  t.Apply({D("a", "b", 80, tracer::Role::kClient, 1, 0)}, 2);
  EXPECT_EQ(before->links.begin()->second.bytes_sent, 1u);
  EXPECT_EQ(t.Snapshot()->links.begin()->second.bytes_sent, 2u);
}

TEST(LinkDelta, SumsSocketsOfOnePoll) {
  LinkDelta d;
  d.Add(10, 1, 0, true, false, false);  // opened, still open
  d.Add(5, 0, 2, true, true, false);    // opened and closed within the poll
  d.Add(1, 0, 0, false, true, false);   // closed, opened earlier
  d.Add(0, 0, 0, true, true, true);     // failed connect
  EXPECT_EQ(d.sent, 16u);
  EXPECT_EQ(d.retransmits, 2u);
  EXPECT_EQ(d.opened, 2u);
  EXPECT_EQ(d.active_change, 0);
  EXPECT_EQ(d.failed, 1u);
}

TEST(RateOver, UsesTheOldestSampleInsideTheWindow) {
  LinkTable t(10);
  t.Apply({D("a", "b", 80, tracer::Role::kClient, 0, 0, /*opened=*/true)}, 100);
  t.Apply({D("a", "b", 80, tracer::Role::kClient, 100, 0)}, 110);
  t.Apply({D("a", "b", 80, tracer::Role::kClient, 300, 0)}, 120);
  const LinkTotals& l = t.Snapshot()->links.begin()->second;
  EXPECT_DOUBLE_EQ(RateOver(l, 10, 120), 30.0);
  EXPECT_DOUBLE_EQ(RateOver(l, 60, 120), 20.0);
  EXPECT_DOUBLE_EQ(RateOver(l, 60, 500), 0.0);
}

}  // namespace
}  // namespace caretta::links
