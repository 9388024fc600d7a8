#include "tracer/bpf_tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "caretta.skel.h"
#include "common/netns.h"
#include "spdlog/spdlog.h"
#include "tracer/preflight.h"

namespace caretta::tracer {
namespace {

constexpr std::string_view kCounterNames[CARETTA_CNT_MAX] = {
    "opened_client",      "opened_server", "closed",          "failed_connect",
    "loopback",           "self",          "drop_table_full", "drop_storage",
    "drop_ringbuf",       "adopted",       "aggregated",      "lost_sent_bytes",
    "lost_received_bytes"};

std::string Errno(int err) { return std::strerror(err < 0 ? -err : err); }

std::string KernelRelease() {
  utsname u{};
  return uname(&u) == 0 ? u.release : "unknown";
}

// Closes an fd on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Runs an iterator that only has effects in the kernel (adoption) to its end.
bool RunIterator(int link_fd) {
  Fd fd(bpf_iter_create(link_fd));
  if (fd.get() < 0) return false;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
  }
  return n == 0;
}

// The initial PID namespace has a fixed inode number (PROC_PID_INIT_INO).
constexpr std::string_view kInitialPidNs = "pid:[4026531836]";

// True when this process runs in the host's (initial) PID namespace.
bool InInitialPidNamespace() {
  char buf[64];
  ssize_t n = readlink("/proc/self/ns/pid", buf, sizeof buf);
  return n > 0 && std::string_view(buf, static_cast<std::size_t>(n)) == kInitialPidNs;
}

}  // namespace

std::string_view CounterName(int index) {
  return index >= 0 && index < CARETTA_CNT_MAX ? kCounterNames[index] : "unknown";
}

std::string TracerConfig::Validate() const {
  if (ringbuf_bytes < kMinRingbufBytes || ringbuf_bytes > kMaxRingbufBytes ||
      (ringbuf_bytes & (ringbuf_bytes - 1)) != 0)
    return "close-event ring buffer: " + std::to_string(ringbuf_bytes) +
           " bytes is not a power of two in [" + std::to_string(kMinRingbufBytes / 1024) +
           " KiB, " + std::to_string(kMaxRingbufBytes >> 20) + " MiB] (the minimum holds ~" +
           std::to_string(kMinRingbufBytes / 96) +
           " close records, a burst of long-lived connections closing at once)";
  if (max_connections == 0) return "max_connections must be at least 1";
  return "";
}

int BpfTracer::OpenAndLoad(bool with_storage_walk) {
  if (skel_) caretta_bpf__destroy(skel_);
  skel_ = caretta_bpf__open();
  if (!skel_) return -errno;
  storage_walk_ = with_storage_walk;
  skel_->rodata->self_tgid = config_.self_tgid;
  skel_->rodata->self_port = config_.self_port;
  skel_->rodata->self_netns = config_.self_netns;
  skel_->rodata->max_connections = config_.max_connections;
  skel_->rodata->track_loopback = config_.track_loopback ? 1 : 0;
  skel_->rodata->ring_wakeup_bytes = config_.ringbuf_bytes / 4;
  skel_->rodata->track_from_open = from_open_ ? 1 : 0;
  skel_->bss->aggregate_client_closes = config_.aggregate_client_closes ? 1 : 0;
  int err = bpf_map__set_max_entries(skel_->maps.closed_events, config_.ringbuf_bytes);
  if (!err) err = bpf_map__set_max_entries(skel_->maps.close_cache, static_cast<__u32>(ncpus_));
  // Untracked sockets are not bounded by max_connections: the marks get at least
  // 64 Ki entries (memory only for those in use, ~100 bytes each).
  if (!err)
    err = bpf_map__set_max_entries(skel_->maps.untracked,
                                   std::max<std::uint32_t>(config_.max_connections, 1u << 16));
  // The benchmark floor programs are only loaded by the benchmark.
  if (!err) err = bpf_program__set_autoload(skel_->progs.empty_state_change, false);
  if (!err) err = bpf_program__set_autoload(skel_->progs.empty_task_files, false);
  // Each discovery mode loads only the iterators it runs.
  if (!err) err = bpf_program__set_autoload(skel_->progs.dump_sockets, with_storage_walk);
  if (!err) err = bpf_program__set_autoload(skel_->progs.adopt_sockets, from_open_);
  if (!err) err = bpf_program__set_autoload(skel_->progs.dump_task_sockets, !from_open_);
  if (err) {
    caretta_bpf__destroy(skel_);
    skel_ = nullptr;
    throw TracerError("cannot configure the BPF object: " + Errno(err));
  }
  err = caretta_bpf__load(skel_);
  if (err) {
    caretta_bpf__destroy(skel_);
    skel_ = nullptr;
  }
  return err;
}

BpfTracer::BpfTracer(const TracerConfig& config) : config_(config) {
  if (std::string problem = config_.Validate(); !problem.empty()) throw TracerError(problem);
  probe_info_.kernel_release = KernelRelease();
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    throw TracerError(
        "kernel BTF (/sys/kernel/btf/vmlinux) is not readable: CO-RE needs "
        "CONFIG_DEBUG_INFO_BTF=y");
  // Without the capabilities every probe below fails too: say so, not that the
  // kernel lacks features.
  const Capabilities caps = EffectiveCapabilities();
  if (auto missing = MissingPrivileges(caps)) throw TracerError(*missing);
  auto require_map = [&](bpf_map_type type, const char* what) {
    int r = libbpf_probe_bpf_map_type(type, nullptr);
    if (r == 1) return;
    if (r == -EPERM || r == -EACCES)
      throw TracerError(std::string("cannot create a BPF map to probe for ") + what + " (" +
                        Errno(r) + "): the process lacks the privileges to use BPF");
    throw TracerError(std::string("kernel lacks ") + what);
  };
  require_map(BPF_MAP_TYPE_SK_STORAGE,
              "BPF socket storage (BPF_MAP_TYPE_SK_STORAGE, Linux >= 5.2)");
  require_map(BPF_MAP_TYPE_RINGBUF, "the BPF ring buffer (BPF_MAP_TYPE_RINGBUF, Linux >= 5.8)");

  // The task walk sees only the processes of our own PID namespace: outside the
  // host's, sockets must be tracked from their open instead.
  from_open_ = config_.discovery == Discovery::kOpen ||
               (config_.discovery == Discovery::kAuto && !InInitialPidNamespace());
  ncpus_ = libbpf_num_possible_cpus();
  if (ncpus_ <= 0) ncpus_ = 1;
  int err = OpenAndLoad(/*with_storage_walk=*/true);
  if (err == -EPERM || err == -EACCES) {
    // Some kernels refuse every iterator over map elements while loading the rest
    // (measured: this project's 6.18 test kernel answers EPERM to any
    // iter/bpf_sk_storage_map or iter/bpf_map_elem program, even an empty one).
    // The task walk does without it; open mode cannot.
    if (OpenAndLoad(/*with_storage_walk=*/false) == 0) {
      storage_walk_ = false;
      err = 0;
      spdlog::warn(
          "tracer: the kernel refuses iter/bpf_sk_storage_map ({}); listing by the task walk "
          "alone (sockets no process holds any more are counted at their close only)",
          Errno(EPERM));
      if (from_open_) {
        caretta_bpf__destroy(skel_);
        throw TracerError(
            "SOCKET_DISCOVERY=open (chosen outside the host PID namespace by auto) lists "
            "sockets with iter/bpf_sk_storage_map, which this kernel refuses: run the agent "
            "in the host PID namespace (hostPID: true) so that the task walk can be used");
      }
    }
  }
  if (err) {
    // Socket storage is charged as it fills; the ring buffer at once.
    const std::uint64_t kernel_bytes =
        std::uint64_t{config_.ringbuf_bytes} + std::uint64_t{config_.max_connections} * 512;
    throw TracerError(ExplainLoadFailure(err, caps, kernel_bytes));
  }
  auto fail = [this](const std::string& what) {
    int e = errno;
    ring_buffer__free(ring_);  // null-safe: not created yet on the earlier steps
    caretta_bpf__destroy(skel_);
    throw TracerError(what + ": " + Errno(e));
  };
  skel_->links.on_state_change = bpf_program__attach(skel_->progs.on_state_change);
  if (!skel_->links.on_state_change) fail("cannot attach tp_btf/inet_sock_set_state");
  if (storage_walk_) {
    // The sk_storage iterator walks one map, named at attach time. It is the
    // listing with storage from the open, and completes a full listing otherwise.
    union bpf_iter_link_info info = {};
    info.map.map_fd = bpf_map__fd(skel_->maps.sockets);
    DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info,
                        .link_info_len = sizeof(info));
    skel_->links.dump_sockets = bpf_program__attach_iter(skel_->progs.dump_sockets, &opts);
    if (!skel_->links.dump_sockets) fail("cannot create iter/bpf_sk_storage_map");
  }
  if (from_open_) {
    skel_->links.adopt_sockets = bpf_program__attach_iter(skel_->progs.adopt_sockets, nullptr);
    if (!skel_->links.adopt_sockets) fail("cannot create iter/tcp");
  } else {
    skel_->links.dump_task_sockets =
        bpf_program__attach_iter(skel_->progs.dump_task_sockets, nullptr);
    if (!skel_->links.dump_task_sockets) fail("cannot create iter/task_file");
  }
  ring_ = ring_buffer__new(bpf_map__fd(skel_->maps.closed_events), &BpfTracer::OnRingRecord, this,
                           nullptr);
  if (!ring_) fail("cannot open the close-event ring buffer");
  {
    // Array elements are laid out 8-byte aligned, so one per struct here; the
    // mapping covers whole pages.
    static_assert(sizeof(caretta_close_cache) % 8 == 0, "stride must equal the struct size");
    std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    close_cache_bytes_ =
        (sizeof(caretta_close_cache) * static_cast<std::size_t>(ncpus_) + page - 1) / page * page;
    close_cache_map_ = mmap(nullptr, close_cache_bytes_, PROT_READ, MAP_SHARED,
                            bpf_map__fd(skel_->maps.close_cache), 0);
    if (close_cache_map_ == MAP_FAILED) fail("cannot map the close cache");
    close_cache_ = std::make_unique<CloseCache>(close_cache_map_, ncpus_);
  }
  probe_info_.state_hook = "tp_btf/inet_sock_set_state";
  probe_info_.counter_source = from_open_ ? "iter/bpf_sk_storage_map" : "iter/task_file";
  probe_info_.close_channel = "close-cache+ringbuf";
  if (config_.drain_ring_between_polls) ring_thread_ = std::thread([this] { RingLoop(); });
  spdlog::info("tracer: attached {} + {} (kernel {}, max {} sockets, ring {} KiB)",
               probe_info_.state_hook, probe_info_.counter_source, probe_info_.kernel_release,
               config_.max_connections, config_.ringbuf_bytes / 1024);
}

BpfTracer::~BpfTracer() {
  stop_ = true;
  if (ring_thread_.joinable()) ring_thread_.join();
  ring_buffer__free(ring_);
  if (close_cache_map_) munmap(close_cache_map_, close_cache_bytes_);
  caretta_bpf__destroy(skel_);  // detaches every link
}

int BpfTracer::OnRingRecord(void* self, void* data, std::size_t size) {
  static_assert(sizeof(caretta_slot_flush) != sizeof(caretta_conn), "records told apart by size");
  if (size == sizeof(caretta_slot_flush)) {
    caretta_slot_flush flush;
    std::memcpy(&flush, data, sizeof flush);
    if (flush.magic != CARETTA_SLOT_FLUSH_MAGIC) return 0;
    auto* tracer = static_cast<BpfTracer*>(self);
    std::lock_guard lock(tracer->closed_mu_);
    tracer->flushed_.push_back(flush);
    return 0;
  }
  if (size < sizeof(caretta_conn)) return 0;
  caretta_conn raw;
  std::memcpy(&raw, data, sizeof raw);
  auto* tracer = static_cast<BpfTracer*>(self);
  std::lock_guard lock(tracer->closed_mu_);
  tracer->closed_.push_back(FromRaw(raw));
  return 0;
}

void BpfTracer::RingLoop() {
  // The BPF side wakes us only when the ring is a quarter full; a short timeout
  // bounds the latency otherwise. Waiting happens outside the lock; consuming
  // inside it, because Poll() drains the ring too (libbpf's consumer is not
  // thread-safe).
  int epfd = ring_buffer__epoll_fd(ring_);
  while (!stop_) {
    epoll_event ev{};
    int n = epoll_wait(epfd, &ev, 1, 100);
    if (n < 0 && errno != EINTR) {
      spdlog::error("tracer: ring buffer wait failed: {}", Errno(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    DrainRing();
  }
}

void BpfTracer::DrainRing() {
  std::lock_guard lock(ring_mu_);
  int n = ring_buffer__consume(ring_);
  if (n < 0) spdlog::error("tracer: ring buffer read failed: {}", Errno(n));
}

std::size_t BpfTracer::ReadIterator(int link_fd, bool complete, const ConnectionTracker::Sink& sink,
                                    bool* ok) {
  skel_->bss->full_dump = complete ? 1 : 0;
  Fd fd(bpf_iter_create(link_fd));
  if (fd.get() < 0) {
    spdlog::error("tracer: cannot create socket iterator: {}", Errno(errno));
    *ok = false;
    return 0;
  }
  // Records are applied as they are read: memory stays flat however many sockets.
  std::vector<char> buf(64 * 1024);
  std::size_t have = 0, listed = 0;
  for (;;) {
    ssize_t n = read(fd.get(), buf.data() + have, buf.size() - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("tracer: reading socket iterator failed: {}", Errno(errno));
      *ok = false;
      break;
    }
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
    std::size_t whole = have - have % sizeof(caretta_conn);
    for (std::size_t off = 0; off < whole; off += sizeof(caretta_conn)) {
      caretta_conn raw;
      std::memcpy(&raw, buf.data() + off, sizeof raw);
      tracker_.Live(FromRaw(raw), sink);
      ++listed;
    }
    std::memmove(buf.data(), buf.data() + whole, have - whole);
    have -= whole;
  }
  return listed;
}

PollStats BpfTracer::Poll(const ConnectionTracker::Sink& sink) {
  // Order matters: a socket the iterator no longer lists has its close record in
  // the ring by the time we drain it below (or within microseconds: the tracker
  // waits for a second complete listing). Idle sockets are not listed; after a lost
  // close record (ring full) or a state change the kernel skipped, complete
  // listings let the tracker close the sockets that are gone.
  PollStats stats;
  std::uint64_t drops = ReadCounter(CARETTA_CNT_DROP_RINGBUF);
  std::uint64_t missed = MissedStateChanges();
  const bool periodic = config_.complete_listing_every > 0 &&
                        ++polls_since_complete_ >= config_.complete_listing_every;
  const bool want_complete =
      drops != ring_drops_seen_ || missed != missed_seen_ || tracker_.suspects() > 0 || periodic;
  tracker_.BeginPoll();
  ++skel_->bss->poll_gen;
  bool ok = true;
  if (from_open_) {
    stats.listed = ReadIterator(bpf_link__fd(skel_->links.dump_sockets), want_complete, sink, &ok);
  } else {
    // A complete listing lists every socket a process holds from the task walk
    // (which resumes exactly where each read stopped), then, where the kernel
    // allows it, every known socket no process holds any more from its storage.
    stats.listed =
        ReadIterator(bpf_link__fd(skel_->links.dump_task_sockets), want_complete, sink, &ok);
    if (ok) SweepUntracked();
    if (want_complete && ok && storage_walk_)
      stats.listed += ReadIterator(bpf_link__fd(skel_->links.dump_sockets), true, sink, &ok);
  }
  stats.complete = want_complete && ok;  // a failed walk proves nothing: try again
  if (stats.complete) {
    ring_drops_seen_ = drops;
    missed_seen_ = missed;
    polls_since_complete_ = 0;
  }
  // Folded closes: the slots first, then (from the ring) the final totals of slots
  // that changed key; the cache counts each close once either way.
  auto folded = [&](const caretta_close_key& key, const CloseTotals& delta) {
    stats.folded += delta.sockets;
    sink(FoldedDelta(key, delta));
  };
  close_cache_->Read(folded);
  DrainRing();
  std::vector<SocketSnapshot> closed;
  std::vector<caretta_slot_flush> flushed;
  {
    std::lock_guard lock(closed_mu_);
    closed.swap(closed_);
    flushed.swap(flushed_);
  }
  for (const caretta_slot_flush& f : flushed) close_cache_->Flushed(f, folded);
  for (const SocketSnapshot& s : closed) tracker_.Closed(s, sink);
  stats.closed = closed.size();
  stats.reconciled = tracker_.EndPoll(stats.complete, sink);
  return stats;
}

void BpfTracer::SweepUntracked() {
  const int fd = bpf_map__fd(skel_->maps.untracked);
  const std::uint32_t gen = skel_->bss->poll_gen;
  // Read in batches: with the table full this map may hold tens of thousands of
  // entries, and one syscall per entry would cost more than the walk.
  constexpr std::uint32_t kChunk = 4096;
  std::vector<std::uint64_t> keys(kChunk), stale;
  std::vector<std::uint32_t> walks(kChunk);
  std::uint64_t untracked_now = 0;
  std::uint64_t in_batch = 0, out_batch = 0;  // a hash map's batch token fits 64 bits
  void* in = nullptr;                         // the first call starts at the beginning
  for (;;) {
    std::uint32_t count = kChunk;
    int err = bpf_map_lookup_batch(fd, in, &out_batch, keys.data(), walks.data(), &count, nullptr);
    int e = err ? errno : 0;
    for (std::uint32_t i = 0; i < count; ++i) {
      if (walks[i] != gen)
        stale.push_back(keys[i]);
      else
        ++untracked_now;
    }
    if (err) {
      if (e != ENOENT) spdlog::warn("tracer: reading the untracked sockets failed: {}", Errno(e));
      break;  // ENOENT: the end
    }
    in_batch = out_batch;
    in = &in_batch;
  }
  for (std::uint64_t cookie : stale) {
    if (bpf_map_delete_elem(fd, &cookie) != 0 && errno != ENOENT)
      spdlog::warn("tracer: cannot forget an untracked socket: {}", Errno(errno));
  }
  untracked_now_.store(untracked_now, std::memory_order_relaxed);
}

ConnectionDelta BpfTracer::FoldedDelta(const caretta_close_key& key, const CloseTotals& delta) {
  caretta_conn raw{};
  std::memcpy(raw.laddr, key.laddr, 16);
  std::memcpy(raw.raddr, key.raddr, 16);
  raw.family = (key.flags & CARETTA_CLOSE_IPV6) ? AF_INET6 : AF_INET;
  raw.role = key.role;
  raw.netns = key.netns;
  raw.cgroup_id = key.cgroup_id;
  raw.kind = (key.flags & CARETTA_CLOSE_FAILED) ? CARETTA_RECORD_FAILED : CARETTA_RECORD_CLOSED;
  raw.state = TCP_CLOSE;
  // The server's port is the link's; a client's own (ephemeral) port is not kept.
  if (key.role == CARETTA_ROLE_SERVER)
    raw.lport = key.server_port;
  else
    raw.rport = key.server_port;
  raw.bytes_acked = delta.sent;  // the FIN is already out (no fin_* flags)
  raw.bytes_received = delta.received;
  raw.retransmits = delta.retransmits;
  ConnectionDelta d;
  d.socket = FromRaw(raw);
  d.socket.cookie = tracker_.MakeUnlistedCookie();
  d.sent = delta.sent;
  d.received = delta.received;
  d.retransmits = delta.retransmits;
  d.opened = true;
  d.sockets = delta.sockets;
  return d;
}

PollResult BpfTracer::Poll() {
  PollResult result;
  result.stats = Poll([&](const ConnectionDelta& d) { result.deltas.push_back(d); });
  return result;
}

std::uint64_t BpfTracer::AdoptExisting(const std::vector<std::string>& netns_paths) {
  std::uint64_t before = ReadCounter(CARETTA_CNT_ADOPTED);
  if (!from_open_) {
    // One walk of every process: sockets found while `adopting` is set count from now.
    skel_->bss->adopting = 1;
    ++skel_->bss->poll_gen;
    if (!RunIterator(bpf_link__fd(skel_->links.dump_task_sockets)))
      spdlog::warn("tracer: the adoption walk failed: {}", Errno(errno));
    skel_->bss->adopting = 0;
    std::uint64_t adopted = ReadCounter(CARETTA_CNT_ADOPTED) - before;
    spdlog::info("tracer: adopted {} already-open sockets (walk of every process)", adopted);
    return adopted;
  }
  int link_fd = bpf_link__fd(skel_->links.adopt_sockets);
  int entered = 0;
  for (const std::string& path : netns_paths) {
    std::string error;
    bool ok = common::RunInNetns(
        path,
        [&] {
          // iter/tcp walks the namespace that is current when the iterator is created.
          if (!RunIterator(link_fd))
            spdlog::warn("tracer: iter/tcp failed in {}: {}", path, Errno(errno));
        },
        &error);
    if (ok) {
      ++entered;
    } else {
      spdlog::debug("tracer: adoption skipped {}", error);
    }
  }
  std::uint64_t adopted = ReadCounter(CARETTA_CNT_ADOPTED) - before;
  spdlog::info("tracer: adopted {} already-open sockets in {} of {} network namespaces", adopted,
               entered, netns_paths.size());
  return adopted;
}

std::uint64_t BpfTracer::ReadCounter(int index) const {
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(ncpus_));
  std::uint32_t key = static_cast<std::uint32_t>(index);
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &key, per_cpu.data()) != 0) return 0;
  std::uint64_t total = 0;
  for (std::uint64_t v : per_cpu) total += v;
  return total;
}

KernelCounters BpfTracer::ReadCounters() const {
  KernelCounters totals{};
  for (int i = 0; i < CARETTA_CNT_MAX; ++i) totals[i] = ReadCounter(i);
  return totals;
}

std::uint64_t BpfTracer::MissedStateChanges() const {
  bpf_prog_info info{};
  __u32 len = sizeof info;
  if (bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.on_state_change), &info, &len) != 0)
    return 0;
  return info.recursion_misses;
}

void BpfTracer::SetAggregateClientCloses(bool on) {
  __atomic_store_n(&skel_->bss->aggregate_client_closes, on ? 1 : 0, __ATOMIC_RELAXED);
  spdlog::info("tracer: client closes {}", on ? "folded per link in the kernel"
                                              : "recorded one by one (their ports are needed)");
}

void BpfTracer::SetStateHookAttached(bool attached) {
  bpf_link*& link = skel_->links.on_state_change;
  if (attached == (link != nullptr)) return;
  if (!attached) {
    int err = bpf_link__destroy(link);
    link = nullptr;
    if (err) spdlog::warn("tracer: detaching the state-change hook: {}", Errno(err));
    return;
  }
  link = bpf_program__attach(skel_->progs.on_state_change);
  if (!link) {
    int e = errno;
    throw TracerError("cannot attach tp_btf/inet_sock_set_state: " + Errno(e));
  }
}

std::uint64_t BpfTracer::TrackedSockets() const {
  return __atomic_load_n(&skel_->bss->tracked_sockets, __ATOMIC_RELAXED);
}

}  // namespace caretta::tracer
