#include "tracer/connection_tracker.h"

#include <gtest/gtest.h>

#include <cstring>

#include "tracer/bpf_tracer.h"

namespace caretta::tracer {
namespace {

caretta_conn Raw(std::uint64_t cookie, std::uint64_t acked, std::uint64_t received,
                 std::uint8_t kind = CARETTA_RECORD_LIVE) {
  caretta_conn r;
  std::memset(&r, 0, sizeof r);
  r.cookie = cookie;
  r.family = 2;
  r.role = CARETTA_ROLE_CLIENT;
  r.kind = kind;
  r.bytes_acked = acked;
  r.bytes_received = received;
  return r;
}

TEST(FromRaw, TakesTheFinOutOfBothCounters) {
  caretta_conn r = Raw(1, 101, 51, CARETTA_RECORD_CLOSED);
  r.fin_acked = 1;
  r.fin_received = 1;
  SocketSnapshot s = FromRaw(r);
  EXPECT_EQ(s.bytes_sent, 100u);
  EXPECT_EQ(s.bytes_received, 50u);
  EXPECT_TRUE(s.closed);
  EXPECT_FALSE(s.failed);
}

TEST(FromRaw, NormalizesV4MappedAddresses) {
  caretta_conn r = Raw(1, 0, 0);
  r.family = 10;
  const std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  std::memcpy(r.raddr, mapped, 16);
  EXPECT_EQ(FromRaw(r).remote_ip.ToString(), "10.1.2.3");
  EXPECT_TRUE(FromRaw(r).remote_ip.is_v4());
}

TEST(ConnectionTracker, LiveSocketYieldsDeltasAcrossPolls) {
  ConnectionTracker t;
  auto d1 = t.Apply({}, {FromRaw(Raw(7, 100, 10))});
  ASSERT_EQ(d1.size(), 1u);
  EXPECT_TRUE(d1[0].opened);
  EXPECT_EQ(d1[0].sent, 100u);
  auto d2 = t.Apply({}, {FromRaw(Raw(7, 250, 10))});
  ASSERT_EQ(d2.size(), 1u);
  EXPECT_FALSE(d2[0].opened);
  EXPECT_EQ(d2[0].sent, 150u);
  EXPECT_EQ(d2[0].received, 0u);
}

TEST(ConnectionTracker, CloseRecordCountsOnlyTheRemainder) {
  ConnectionTracker t;
  t.Apply({}, {FromRaw(Raw(7, 100, 10))});
  auto d = t.Apply({FromRaw(Raw(7, 130, 12, CARETTA_RECORD_CLOSED))}, {});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].sent, 30u);
  EXPECT_EQ(d[0].received, 2u);
  EXPECT_TRUE(d[0].socket.closed);
  EXPECT_EQ(t.stats().tracked, 0u);
}

TEST(ConnectionTracker, OpenedAndClosedBetweenPollsIsCountedWhole) {
  ConnectionTracker t;
  auto d = t.Apply({FromRaw(Raw(9, 5, 6, CARETTA_RECORD_CLOSED))}, {});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].opened);
  EXPECT_EQ(d[0].sent, 5u);
  EXPECT_EQ(d[0].received, 6u);
}

TEST(ConnectionTracker, LiveThenCloseInOnePollCountsEachByteOnce) {
  ConnectionTracker t;
  t.Apply({}, {FromRaw(Raw(3, 10, 0))});
  // The iterator read the socket just before it closed; its close record follows.
  auto d = t.Apply({FromRaw(Raw(3, 20, 0, CARETTA_RECORD_CLOSED))}, {FromRaw(Raw(3, 15, 0))});
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].sent + d[1].sent, 10u);
  EXPECT_TRUE(d[1].socket.closed);
  // Next poll: a late record of the closed socket must not resurrect it.
  auto d2 = t.Apply({}, {FromRaw(Raw(3, 20, 0))});
  EXPECT_TRUE(d2.empty());
  EXPECT_EQ(t.stats().stale_ignored, 1u);
  EXPECT_EQ(t.stats().tracked, 0u);
}

TEST(ConnectionTracker, TotalsNeverGoBackwards) {
  ConnectionTracker t;
  t.Apply({}, {FromRaw(Raw(4, 100, 100))});
  auto d = t.Apply({}, {FromRaw(Raw(4, 99, 100))});  // a racing FIN read
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].sent, 0u);
  auto d2 = t.Apply({}, {FromRaw(Raw(4, 101, 100))});
  EXPECT_EQ(d2[0].sent, 1u);
}

TEST(ConnectionTracker, IdleSocketsStayKnownBetweenPartialListings) {
  ConnectionTracker t;
  t.Apply({}, {FromRaw(Raw(5, 10, 1))});
  EXPECT_TRUE(t.Apply({}, {}).empty());  // idle: not listed
  auto d = t.Apply({}, {FromRaw(Raw(5, 15, 1))});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_FALSE(d[0].opened);  // not a new connection
  EXPECT_EQ(d[0].sent, 5u);
}

TEST(ConnectionTracker, SocketGoneFromTwoCompleteListingsIsClosedWithoutBytes) {
  ConnectionTracker t;
  caretta_conn gone = Raw(5, 11, 22);
  gone.lport = 40000;
  gone.rport = 80;
  gone.netns = 77;
  t.Apply({}, {FromRaw(gone), FromRaw(Raw(6, 1, 1))});
  // Missing once: a close record may still be on its way; the next poll must be complete.
  for (const auto& d : t.Apply({}, {FromRaw(Raw(6, 1, 1))}, /*complete=*/true))
    EXPECT_NE(d.socket.cookie, 5u);
  EXPECT_EQ(t.suspects(), 1u);
  EXPECT_EQ(t.stats().vanished, 0u);
  std::vector<ConnectionDelta> d;
  for (const auto& x : t.Apply({}, {FromRaw(Raw(6, 1, 1))}, /*complete=*/true))
    if (x.socket.cookie == 5) d.push_back(x);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].socket.closed);
  EXPECT_TRUE(d[0].close_lost);
  EXPECT_FALSE(d[0].opened);
  EXPECT_EQ(d[0].sent, 0u);
  EXPECT_EQ(d[0].received, 0u);
  // Who it was, for the link it leaves.
  EXPECT_EQ(d[0].socket.local_port, 40000);
  EXPECT_EQ(d[0].socket.remote_port, 80);
  EXPECT_EQ(d[0].socket.netns, 77u);
  EXPECT_EQ(d[0].socket.role, Role::kClient);
  EXPECT_EQ(t.stats().vanished, 1u);
  EXPECT_EQ(t.stats().tracked, 1u);
  EXPECT_EQ(t.suspects(), 0u);
}

TEST(ConnectionTracker, PartialListingsNeverCloseIdleSockets) {
  ConnectionTracker t;
  t.Apply({}, {FromRaw(Raw(5, 1, 1))});
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(t.Apply({}, {}).empty());
  EXPECT_EQ(t.stats().tracked, 1u);
}

TEST(ConnectionTracker, CloseRecordOnItsWayIsNotLost) {
  ConnectionTracker t;
  t.Apply({}, {FromRaw(Raw(5, 10, 1))});
  EXPECT_TRUE(t.Apply({}, {}, /*complete=*/true).empty());  // missed: its record is late
  auto d = t.Apply({FromRaw(Raw(5, 15, 1, CARETTA_RECORD_CLOSED))}, {}, /*complete=*/true);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].socket.closed);
  EXPECT_FALSE(d[0].close_lost);
  EXPECT_EQ(d[0].sent, 5u);
  EXPECT_EQ(t.stats().vanished, 0u);
}

// A record that comes after the tracker closed its socket adds its bytes, never a
// second close.
TEST(ConnectionTracker, LateCloseRecordAddsOnlyItsBytes) {
  ConnectionTracker t;
  t.Apply({}, {FromRaw(Raw(5, 10, 4))});
  t.Apply({}, {}, true);
  ASSERT_EQ(t.Apply({}, {}, true).size(), 1u);  // closed by the tracker
  auto d = t.Apply({FromRaw(Raw(5, 30, 4, CARETTA_RECORD_CLOSED))}, {});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_FALSE(d[0].socket.closed);
  EXPECT_FALSE(d[0].opened);
  EXPECT_EQ(d[0].sent, 20u);
  EXPECT_EQ(d[0].received, 0u);
  EXPECT_EQ(t.stats().late_closes, 1u);
  EXPECT_EQ(t.graveyard_size(), 0u);
}

// A socket the walks missed twice but still open: open again, its bytes counted once.
TEST(ConnectionTracker, SocketListedAfterItWasClosedIsRevived) {
  ConnectionTracker t;
  t.Apply({}, {FromRaw(Raw(5, 10, 4))});
  t.Apply({}, {}, true);
  ASSERT_EQ(t.Apply({}, {}, true).size(), 1u);
  auto d = t.Apply({}, {FromRaw(Raw(5, 12, 4))});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_TRUE(d[0].opened);
  EXPECT_FALSE(d[0].socket.closed);
  EXPECT_EQ(d[0].sent, 2u);
  EXPECT_EQ(t.stats().revived, 1u);
  auto d2 = t.Apply({FromRaw(Raw(5, 13, 4, CARETTA_RECORD_CLOSED))}, {});
  ASSERT_EQ(d2.size(), 1u);
  EXPECT_TRUE(d2[0].socket.closed);
  EXPECT_EQ(d2[0].sent, 1u);
}

TEST(ConnectionTracker, GraveyardForgetsAfterItsRetention) {
  ConnectionTracker t;
  t.Apply({}, {FromRaw(Raw(5, 10, 4))});
  t.Apply({}, {}, true);
  t.Apply({}, {}, true);
  EXPECT_EQ(t.graveyard_size(), 1u);
  for (std::uint32_t i = 0; i <= ConnectionTracker::kGraveyardPolls; ++i) t.Apply({}, {});
  EXPECT_EQ(t.graveyard_size(), 0u);
}

TEST(TracerConfig, RingBufferMustHoldACloseBurst) {
  TracerConfig c;
  EXPECT_EQ(c.Validate(), "");  // the default, 1 MiB
  c.ringbuf_bytes = 4096;       // ~40 records: accepted before
  EXPECT_NE(c.Validate().find("512 KiB"), std::string::npos) << c.Validate();
  c.ringbuf_bytes = TracerConfig::kMinRingbufBytes / 2;
  EXPECT_NE(c.Validate(), "");
  c.ringbuf_bytes = TracerConfig::kMinRingbufBytes;
  EXPECT_EQ(c.Validate(), "");
  c.ringbuf_bytes = TracerConfig::kMinRingbufBytes + 4096;  // not a power of two
  EXPECT_NE(c.Validate(), "");
  c.ringbuf_bytes = 1u << 31;
  EXPECT_NE(c.Validate(), "");
  c.ringbuf_bytes = 1u << 20;
  c.max_connections = 0;
  EXPECT_NE(c.Validate(), "");
}

TEST(CounterName, EveryKernelCounterHasOne) {
  for (int i = 0; i < CARETTA_CNT_MAX; ++i) {
    EXPECT_FALSE(CounterName(i).empty()) << i;
    EXPECT_NE(CounterName(i), "unknown") << i;
  }
  EXPECT_EQ(CounterName(CARETTA_CNT_LOST_SENT_BYTES), "lost_sent_bytes");
  EXPECT_EQ(CounterName(CARETTA_CNT_LOST_RECEIVED_BYTES), "lost_received_bytes");
}

}  // namespace
}  // namespace caretta::tracer
