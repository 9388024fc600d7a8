// The close cache reader against memory laid out like the kernel's: every close
// counted once whether read from its slot, from the slot's flush record, or both,
// and a slot caught mid-update left for the next read.
#include "tracer/close_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

namespace caretta::tracer {
namespace {

struct Sum {
  std::uint64_t sent = 0, received = 0, sockets = 0;
};

class CloseCacheTest : public ::testing::Test {
 protected:
  CloseCacheTest() : caches_(2), cache_(caches_.data(), 2) {
    std::memset(caches_.data(), 0, 2 * sizeof(caretta_close_cache));
  }

  caretta_close_slot& Slot(int cpu, int index) { return caches_[cpu].slot[index]; }

  // The BPF writer's steps, as the kernel takes them.
  void Fold(int cpu, int index, std::uint16_t port, std::uint64_t sent, std::uint64_t received) {
    caretta_close_slot& s = Slot(cpu, index);
    if (s.gen == 0 || s.key.server_port != port) {
      if (s.gen && s.sockets) flushes_.push_back(Flush(cpu, index));
      s.gen += 1;
      s.key = {};
      s.key.server_port = port;
      s.key.role = CARETTA_ROLE_SERVER;
      s.sent = s.received = s.sockets = s.retransmits = 0;
    }
    s.sent += sent;
    s.received += received;
    s.sockets += 1;
    s.end += 1;
    s.begin = s.end;
  }

  caretta_slot_flush Flush(int cpu, int index) {
    caretta_slot_flush f{};
    f.magic = CARETTA_SLOT_FLUSH_MAGIC;
    f.cpu = static_cast<std::uint32_t>(cpu);
    f.index = static_cast<std::uint32_t>(index);
    f.slot = Slot(cpu, index);
    return f;
  }

  CloseCache::Sink Into() {
    return [this](const caretta_close_key& key, const CloseTotals& d) {
      Sum& s = by_port_[key.server_port];
      s.sent += d.sent;
      s.received += d.received;
      s.sockets += d.sockets;
    };
  }

  void DeliverFlushes() {
    for (const auto& f : flushes_) cache_.Flushed(f, Into());
    flushes_.clear();
  }

  std::vector<caretta_close_cache> caches_;
  CloseCache cache_;
  std::vector<caretta_slot_flush> flushes_;
  std::map<std::uint16_t, Sum> by_port_;
};

TEST_F(CloseCacheTest, ReadsOnlyWhatMovedSinceTheLastRead) {
  Fold(0, 3, 80, 10, 20);
  Fold(1, 3, 80, 1, 2);
  cache_.Read(Into());
  EXPECT_EQ(by_port_[80].sent, 11u);
  EXPECT_EQ(by_port_[80].sockets, 2u);
  cache_.Read(Into());  // nothing new
  EXPECT_EQ(by_port_[80].sent, 11u);
  Fold(0, 3, 80, 5, 0);
  cache_.Read(Into());
  EXPECT_EQ(by_port_[80].sent, 16u);
  EXPECT_EQ(by_port_[80].sockets, 3u);
}

TEST_F(CloseCacheTest, FlushFinishesAGenerationAlreadyRead) {
  Fold(0, 7, 80, 10, 0);
  cache_.Read(Into());
  Fold(0, 7, 80, 4, 0);   // not read from the slot ...
  Fold(0, 7, 443, 1, 0);  // ... because the slot changes key: flushed
  cache_.Read(Into());    // reads the new generation first
  DeliverFlushes();       // then the old one's final totals
  EXPECT_EQ(by_port_[80].sent, 14u);
  EXPECT_EQ(by_port_[80].sockets, 2u);
  EXPECT_EQ(by_port_[443].sent, 1u);
  EXPECT_EQ(cache_.generations(), 1u);  // the finished generation is forgotten
}

TEST_F(CloseCacheTest, FlushOfAGenerationNeverRead) {
  Fold(1, 0, 80, 3, 0);
  Fold(1, 0, 443, 2, 0);
  Fold(1, 0, 80, 6, 0);  // two flushes before any read
  DeliverFlushes();
  cache_.Read(Into());
  EXPECT_EQ(by_port_[80].sent, 9u);
  EXPECT_EQ(by_port_[80].sockets, 2u);
  EXPECT_EQ(by_port_[443].sent, 2u);
}

TEST_F(CloseCacheTest, SlotMidUpdateIsLeftForTheNextRead) {
  Fold(0, 1, 80, 10, 0);
  caretta_close_slot& s = Slot(0, 1);
  s.end += 1;  // the writer has begun ...
  s.sent += 99;
  cache_.Read(Into());
  EXPECT_EQ(by_port_[80].sent, 0u);
  EXPECT_EQ(cache_.torn_reads(), 1u);
  s.sockets += 1;
  s.begin = s.end;  // ... and finished
  cache_.Read(Into());
  EXPECT_EQ(by_port_[80].sent, 109u);
  EXPECT_EQ(by_port_[80].sockets, 2u);
}

TEST_F(CloseCacheTest, CountsKeepGoingAcrossA32BitWrap) {
  Fold(0, 2, 80, 1, 0);
  caretta_close_slot& s = Slot(0, 2);
  s.sockets = 0xFFFFFFFEu;  // a hot slot, about to wrap
  cache_.Read(Into());
  const std::uint64_t before = by_port_[80].sockets;
  Fold(0, 2, 80, 1, 0);
  Fold(0, 2, 80, 1, 0);
  Fold(0, 2, 80, 1, 0);  // 0xFFFFFFFE + 3 wraps to 1
  cache_.Read(Into());
  EXPECT_EQ(by_port_[80].sockets - before, 3u);
  EXPECT_EQ(by_port_[80].sent, 4u);
}

}  // namespace
}  // namespace caretta::tracer
