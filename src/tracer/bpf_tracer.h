// RAII owner of the BPF skeleton: open → size maps → load → attach, every step
// checked; destruction detaches all programs. Each Poll() returns the per-socket
// deltas since the previous poll.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "caretta_types.h"
#include "tracer/close_cache.h"
#include "tracer/connection.h"
#include "tracer/connection_tracker.h"

struct caretta_bpf;
struct ring_buffer;

namespace caretta::tracer {

// How live sockets are found (see bpf/caretta.bpf.c).
enum class Discovery : std::uint8_t {
  kAuto,   // kTasks when the agent sees every process (host PID namespace), else kOpen
  kTasks,  // walk processes' open sockets at each poll; nothing per connection
  kOpen,   // attach socket storage as each connection opens
};

struct TracerConfig {
  // Close-event ring buffer bounds. A record is 96 bytes (112 for a close-cache
  // flush) with its header: the minimum holds ~5,400. Measured on 2 busy CPUs
  // (load 8), 40,000 listed sockets closing at once: 128 KiB lost 400-3,200
  // records, 256 KiB 0 or 1,563, 512 KiB none in 11 runs.
  static constexpr std::uint32_t kMinRingbufBytes = 512u << 10;
  static constexpr std::uint32_t kMaxRingbufBytes = 1u << 30;

  std::uint32_t max_connections = 65536;   // tracked sockets at once
  std::uint32_t ringbuf_bytes = 1u << 20;  // close records in flight (power of two)
  std::uint32_t self_tgid = 0;             // skip the agent's own client sockets
  std::uint16_t self_port = 0;             // skip connections to the agent's HTTP port ...
  std::uint32_t self_netns = 0;            // ... in the agent's network namespace
  bool track_loopback = false;
  Discovery discovery = Discovery::kAuto;
  // Fold clients' short connections per link in the kernel (no local port
  // afterwards). Off when client ports are needed, e.g. to undo Service NAT.
  bool aggregate_client_closes = true;
  // Drain the ring buffer on a thread as it fills, not only at each Poll(). Off
  // only in tests that need the ring to overflow.
  bool drain_ring_between_polls = true;
  // A complete listing at least this often (in polls), whatever the drop counters
  // say: a socket gone without a close record for any reason is closed within
  // two of them. 0: only after drops and skipped hook runs.
  std::uint32_t complete_listing_every = 60;

  // "" when usable, else what is wrong (the constructor throws it as TracerError).
  std::string Validate() const;
};

// Thrown when the kernel lacks something the tracer needs; the message names it.
class TracerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Which kernel mechanisms are in use, for logs and caretta_probe_info.
struct ProbeInfo {
  std::string state_hook;      // e.g. "tp_btf/inet_sock_set_state"
  std::string counter_source;  // "iter/task_file" or "iter/bpf_sk_storage_map"
  std::string close_channel;   // e.g. "ringbuf"
  std::string kernel_release;
};

using KernelCounters = std::array<std::uint64_t, CARETTA_CNT_MAX>;
std::string_view CounterName(int index);

struct PollStats {
  std::size_t listed = 0;      // iterator records (sockets whose counters moved)
  std::size_t closed = 0;      // final records from the ring buffer
  std::size_t folded = 0;      // closes read from the kernel's close cache
  std::size_t reconciled = 0;  // sockets found gone without a close record, closed here
  bool complete = false;       // the iterator listed every tracked socket
};

struct PollResult {
  std::vector<ConnectionDelta> deltas;
  PollStats stats;
};

class BpfTracer {
 public:
  explicit BpfTracer(const TracerConfig& config);  // throws TracerError
  ~BpfTracer();
  BpfTracer(const BpfTracer&) = delete;
  BpfTracer& operator=(const BpfTracer&) = delete;

  // Streams this poll's per-socket deltas into `sink` without holding them all.
  PollStats Poll(const ConnectionTracker::Sink& sink);
  PollResult Poll();  // the same, collected (tests, tools)
  // Starts tracking sockets that were open before the tracer attached; their bytes
  // count from now on. Returns the number adopted. With Discovery::kTasks one walk
  // of every process finds them all (`netns_paths` is unused); with kOpen each
  // namespace listed is entered on a helper thread (needs CAP_SYS_ADMIN).
  std::uint64_t AdoptExisting(const std::vector<std::string>& netns_paths);
  KernelCounters ReadCounters() const;
  std::uint64_t ReadCounter(int index) const;  // one caretta_counter, summed over CPUs
  std::uint64_t TrackedSockets() const;
  // State changes the kernel did not run the hook for (it never nests a program
  // in itself on one CPU: a change in an interrupt during the hook is skipped).
  std::uint64_t MissedStateChanges() const;
  // See TracerConfig::aggregate_client_closes; takes effect at once.
  void SetAggregateClientCloses(bool on);
  // Detaches (false) or re-attaches (true) the state-change hook. While detached
  // the kernel runs nothing of ours per connection and closes go unseen: this is
  // for measuring the hook's cost by switching it under load (bench/overhead.cc),
  // which a whole agent's start-up is too slow for. Throws TracerError.
  void SetStateHookAttached(bool attached);
  const ProbeInfo& probe_info() const { return probe_info_; }
  // kTasks or kOpen: what kAuto chose.
  Discovery discovery() const { return from_open_ ? Discovery::kOpen : Discovery::kTasks; }
  const ConnectionTracker::Stats& tracker_stats() const { return tracker_.stats(); }
  // Data bytes of sockets whose close record was lost (ring buffer full) that
  // were never reported: the kernel's counters CARETTA_CNT_LOST_{SENT,RECEIVED}_BYTES.
  struct LostBytes {
    std::uint64_t sent = 0, received = 0;
  };
  LostBytes LostCloseBytes() const {
    return {ReadCounter(CARETTA_CNT_LOST_SENT_BYTES), ReadCounter(CARETTA_CNT_LOST_RECEIVED_BYTES)};
  }
  // Open sockets the last task walk met and could not track (table full, storage
  // allocation failed); 0 with Discovery::kOpen, where each is counted at its open.
  std::uint64_t UntrackedSockets() const { return untracked_now_.load(std::memory_order_relaxed); }
  // False where the kernel refused iter/bpf_sk_storage_map (task walk alone).
  bool has_storage_walk() const { return storage_walk_; }

 private:
  // Opens, configures and loads the skeleton into skel_; returns 0 or -errno.
  int OpenAndLoad(bool with_storage_walk);
  // Forgets the table-full marks no walk refreshed (their sockets closed or got room).
  void SweepUntracked();
  static int OnRingRecord(void* self, void* data, std::size_t size);
  ConnectionDelta FoldedDelta(const caretta_close_key& key, const CloseTotals& delta);
  void RingLoop();
  void DrainRing();
  // Reads one listing iterator to its end into the tracker; *ok = false on error.
  std::size_t ReadIterator(int link_fd, bool complete, const ConnectionTracker::Sink& sink,
                           bool* ok);

  TracerConfig config_;
  caretta_bpf* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  ProbeInfo probe_info_;
  int ncpus_ = 1;
  bool from_open_ = false;             // Discovery::kOpen in effect
  bool storage_walk_ = true;           // iter/bpf_sk_storage_map loaded
  std::uint64_t ring_drops_seen_ = 0;  // a new drop asks for one complete listing
  std::uint64_t missed_seen_ = 0;      // likewise a skipped state change
  std::uint32_t polls_since_complete_ = 0;

  std::mutex ring_mu_;  // serializes ring_buffer__consume
  std::mutex closed_mu_;
  std::vector<SocketSnapshot> closed_;       // drained by the ring thread, taken by Poll()
  std::vector<caretta_slot_flush> flushed_;  // likewise, close-cache flush records
  void* close_cache_map_ = nullptr;          // mmap of the close_cache array
  std::size_t close_cache_bytes_ = 0;
  std::unique_ptr<CloseCache> close_cache_;

  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> untracked_now_{0};  // see UntrackedSockets()
  std::thread ring_thread_;
  ConnectionTracker tracker_;
};

}  // namespace caretta::tracer
