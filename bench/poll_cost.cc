// Poll cost of the tracer: CPU per BpfTracer::Poll() and process memory at N tracked
// connections (N = 1k, 10k, 100k by default), established between two network
// namespaces. For every N a fresh process (this binary, --single N) holds only the
// tracer; the sockets live in a separate caretta_netload "hold" process so their
// memory is not counted.
//
//   caretta_bench_poll --netload PATH [--conns 1000,10000,100000] [--polls 12]
//
// Markdown goes to stdout, progress to stderr.
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "spdlog/spdlog.h"
#include "tracer/bpf_tracer.h"

namespace caretta::bench {
namespace {

constexpr int kHoldPort = 9100;  // holder k listens on kHoldPort + k * kHoldPorts ...
constexpr int kHoldPorts = 4;    // 4 listener ports: no ephemeral-port exhaustion at 100k
constexpr std::uint32_t kSkStorageMapType = 24;  // BPF_MAP_TYPE_SK_STORAGE

double ThreadCpuPrecise() {  // µs
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

double ThreadCpu(bool user) {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  const timeval& tv = user ? ru.ru_utime : ru.ru_stime;
  return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec);  // µs
}

// One N, in this process: prints "key=value ..." on stdout.
int Single(long conns, const std::string& netload, int polls, std::uint32_t max_connections) {
  InstallCleanupHandlers();
  spdlog::set_level(spdlog::level::warn);
  NetnsPair net(0);
  net.Sysctl(net.client_ns(), "net.ipv4.ip_local_port_range", "1024 65535");
  net.Sysctl(net.server_ns(), "net.core.somaxconn", "65535");
  net.Sysctl(net.server_ns(), "net.ipv4.tcp_max_syn_backlog", "65535");
  std::map<std::string, double> r;
  r["rss_start_kib"] = static_cast<double>(StatusKib("VmRSS"));

  tracer::TracerConfig cfg;
  cfg.max_connections = max_connections;
  cfg.self_tgid = static_cast<std::uint32_t>(getpid());
  auto tracer = std::make_unique<tracer::BpfTracer>(cfg);
  tracer->Poll();
  // Run time of the iterator program alone (BPF stats on only in this process's lifetime).
  BpfStatsEnabled stats;
  std::vector<ProgHandle> iter_prog;
  for (std::uint32_t id : BpfProgIdsOf(getpid())) {
    ProgHandle h = ProgHandle::FromId(id);
    // Kernel program names are cut at 15 characters.
    if (h.name() == "dump_sockets" || h.name() == "dump_task_socke")
      iter_prog.push_back(std::move(h));
  }
  auto iter_ns = [&] {
    double ns = 0;
    for (const ProgHandle& h : iter_prog) ns += static_cast<double>(h.Read().run_time_ns);
    return ns;
  };
  r["rss_loaded_kib"] = static_cast<double>(StatusKib("VmRSS"));

  // One holder process per kPerHolder connections: each holds both ends as fds, and
  // the fd hard limit here may be low (raising it needs CAP_SYS_RESOURCE).
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  long per_holder =
      std::max<long>(1, std::min<long>(50000, (static_cast<long>(nofile.rlim_max) - 200) / 2));
  struct Holder {
    pid_t pid;
    int out, in;
  };
  std::vector<Holder> holders;
  double t0 = MonotonicSeconds();
  for (long done = 0, k = 0; done < conns; ++k) {
    long n = std::min(per_holder, conns - done);
    Holder h{};
    h.pid =
        Spawn({netload, "hold", "--server-ns", net.server_path(), "--client-ns", net.client_path(),
               "--addr", net.server_ips()[0], "--port", std::to_string(kHoldPort + k * kHoldPorts),
               "--ports", std::to_string(kHoldPorts), "--conns", std::to_string(n), "--max-seconds",
               "300"},
              "", &h.out, &h.in);
    holders.push_back(h);
    done += n;
  }
  auto stop_holders = [&] {
    for (Holder& h : holders) close(h.in);  // a holder exits when its stdin closes
    for (Holder& h : holders) {
      WaitChild(h.pid, 120);
      close(h.out);
    }
    holders.clear();
  };
  for (Holder& h : holders) {
    auto line = ReadLine(h.out, 240);
    if (!line || line->rfind("ready", 0) != 0) {
      for (Holder& x : holders) kill(x.pid, SIGKILL);
      stop_holders();
      throw std::runtime_error("a connection holder did not get ready");
    }
  }
  r["holders"] = static_cast<double>(holders.size());
  r["setup_s"] = MonotonicSeconds() - t0;

  // First two polls after the connections appeared: the task walk gives every socket
  // its storage in the first and lists it from the second.
  double c0 = ThreadCpuPrecise(), w0 = MonotonicSeconds();
  std::size_t first_deltas = 0;
  for (int i = 0; i < 2; ++i) tracer->Poll([&](const tracer::ConnectionDelta&) { ++first_deltas; });
  r["first_total_us"] = ThreadCpuPrecise() - c0;
  r["first_wall_us"] = (MonotonicSeconds() - w0) * 1e6;
  double u0 = 0, s0 = 0;
  r["first_deltas"] = static_cast<double>(first_deltas);

  // Per poll: precise thread CPU (CLOCK_THREAD_CPUTIME_ID, user+sys together). The
  // user/sys split comes from getrusage(RUSAGE_THREAD), which is tick-sampled and only
  // current after the thread has been scheduled out: it is read after a short sleep
  // on both sides of a poll and reported as a mean over all polls.
  std::vector<double> total, wall, live;
  double user_sum = 0, sys_sum = 0;
  double iter0 = iter_ns();
  for (int i = 0; i < polls; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    u0 = ThreadCpu(true);
    s0 = ThreadCpu(false);
    double c0 = ThreadCpuPrecise();
    w0 = MonotonicSeconds();
    // The agent's own way: deltas streamed to a sink, nothing held per socket.
    std::size_t deltas = 0;
    tracer::PollStats res = tracer->Poll([&](const tracer::ConnectionDelta&) { ++deltas; });
    wall.push_back((MonotonicSeconds() - w0) * 1e6);
    total.push_back(ThreadCpuPrecise() - c0);
    live.push_back(static_cast<double>(res.listed));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    user_sum += ThreadCpu(true) - u0;
    sys_sum += ThreadCpu(false) - s0;
  }
  r["iter_prog_us"] = (iter_ns() - iter0) / 1e3 / polls;
  double split = user_sum + sys_sum > 0 ? user_sum / (user_sum + sys_sum) : NAN;
  r["user_share"] = split;
  r["total_us"] = Median(total);
  r["total_min_us"] = Min(total);
  r["total_max_us"] = Max(total);
  r["user_us"] = Median(total) * split;
  r["sys_us"] = Median(total) * (1 - split);
  r["wall_us"] = Median(wall);
  r["live_sockets"] = Median(live);
  r["rss_kib"] = static_cast<double>(StatusKib("VmRSS"));
  r["hwm_kib"] = static_cast<double>(StatusKib("VmHWM"));
  r["tracked_kernel"] = static_cast<double>(tracer->TrackedSockets());
  r["drop_table_full"] = static_cast<double>(tracer->ReadCounters()[CARETTA_CNT_DROP_TABLE_FULL]);
  for (const MapFdInfo& m : BpfMapsOf(getpid())) {
    r["maps_memlock"] += static_cast<double>(m.memlock);
    if (m.type == kSkStorageMapType) {
      r["sk_memlock"] = static_cast<double>(m.memlock);
      r["sk_value_size"] = m.value_size;
    }
  }
  tracer.reset();  // detach before the holder's sockets go away
  stop_holders();
  for (const auto& [k, v] : r) std::printf("%s=%.3f ", k.c_str(), v);
  std::printf("\n");
  return 0;
}

// Size of a kernel struct from the running kernel's BTF (0 if unknown).
double KernelStructSize(const std::string& name) {
  std::string out = RunCapture(
      "bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null | "
      "grep -m1 \"STRUCT '" +
      name + "' size=\"");
  auto pos = out.find("size=");
  return pos == std::string::npos ? 0 : std::strtod(out.c_str() + pos + 5, nullptr);
}

double KmallocRound(double n) {
  for (double c : {8., 16., 32., 64., 96., 128., 192., 256., 512., 1024., 2048., 4096.})
    if (n <= c) return c;
  return n;
}

int Driver(const std::vector<long>& ns, const std::string& netload, int polls,
           std::uint32_t max_connections, const std::string& self) {
  std::vector<std::map<std::string, double>> rows;
  for (long n : ns) {
    std::fprintf(stderr, "poll cost: %ld connections\n", n);
    int out = -1;
    pid_t child =
        Spawn({self, "--single", std::to_string(n), "--netload", netload, "--polls",
               std::to_string(polls), "--max-connections", std::to_string(max_connections)},
              "", &out);
    std::string text = ReadAll(out, 400);
    close(out);
    if (WaitChild(child, 60) != 0)
      throw std::runtime_error("poll benchmark failed at N=" + std::to_string(n));
    std::map<std::string, double> r;
    std::istringstream in(text);
    std::string tok;
    while (in >> tok) {
      auto eq = tok.find('=');
      if (eq != std::string::npos) r[tok.substr(0, eq)] = std::stod(tok.substr(eq + 1));
    }
    r["n"] = static_cast<double>(n);
    rows.push_back(r);
  }

  double elem = KernelStructSize("bpf_local_storage_elem");
  double storage = KernelStructSize("bpf_local_storage");
  double value = rows.empty() ? 0 : rows.back()["sk_value_size"];
  double per_socket =
      elem > 0 && storage > 0 ? KmallocRound(elem + value) + KmallocRound(storage) : 0;

  auto& md = std::cout;
  md << "## Poll cost and memory at N tracked connections\n\n"
     << "N connections between two network namespaces (both ends on this host, so the tracer "
        "tracks 2·N sockets). A fresh process per N holds only the tracer "
        "(`caretta_tracer::BpfTracer`, max_connections = "
     << max_connections
     << "); the sockets live in separate `caretta_netload hold` processes. CPU of "
        "`BpfTracer::Poll()`: CLOCK_THREAD_CPUTIME_ID around each call, median [min – max] of "
     << polls
     << " polls after the first two (sys = mostly the kernel walking every process's open "
        "files, `iter/task_file`, the default listing); the user/sys split is from "
        "getrusage(RUSAGE_THREAD) summed over all polls (tick-sampled, so approximate). "
        "\"iterator BPF program\" = run time of the listing program alone (bpf_stats), the "
        "part of sys spent in the BPF program. Idle sockets are walked but not listed, so "
        "\"sockets listed per poll\" is 0 after the first two polls. Memory from "
        "/proc/self/status.\n\n"
     << "| connections | sockets listed per poll | poll CPU µs, user+sys | user share | poll "
        "wall µs | user ns / connection | (user+sys) ns / connection | (user+sys) ns / socket | "
        "iterator BPF program ns / socket | first two polls CPU µs | VmRSS after load (MiB) | "
        "VmRSS "
        "(MiB) | VmHWM (MiB) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (auto& r : rows) {
    double n = r["n"];
    md << "| " << static_cast<long>(n) << " | " << Fmt(r["live_sockets"], 0) << " | "
       << Fmt(r["total_us"], 0) << " [" << Fmt(r["total_min_us"], 0) << " – "
       << Fmt(r["total_max_us"], 0) << "] | " << Fmt(100 * r["user_share"], 0) << " % | "
       << Fmt(r["wall_us"], 0) << " | " << Fmt(1000 * r["user_us"] / n, 0) << " | "
       << Fmt(1000 * r["total_us"] / n, 0) << " | " << Fmt(1000 * r["total_us"] / (2 * n), 0)
       << " | " << Fmt(1000 * r["iter_prog_us"] / std::max(1.0, r["tracked_kernel"]), 0) << " | "
       << Fmt(r["first_total_us"], 0) << " | " << Fmt(r["rss_loaded_kib"] / 1024, 1) << " | "
       << Fmt(r["rss_kib"] / 1024, 1) << " | " << Fmt(r["hwm_kib"] / 1024, 1) << " |\n";
  }
  md << "\n";
  if (rows.empty()) return 0;
  auto& big = rows.back();
  double n_big = big["n"];
  double user_per = 1000 * big["user_us"] / n_big;  // ns
  double total_per = 1000 * big["total_us"] / n_big;
  // Linearity: cost per connection at the largest N against the next smaller N.
  double lin = NAN;
  if (rows.size() >= 2) {
    auto& mid = rows[rows.size() - 2];
    lin = (big["total_us"] / n_big) / (mid["total_us"] / mid["n"]);
  }
  // Idle sockets are not listed by the iterator; the kernel's tracked count says
  // whether every one has socket storage (the count of the first two polls is shown too: a
  // socket reported by an earlier poll is not reported again while idle).
  bool tracked_all = big["tracked_kernel"] >= 2 * n_big && big["drop_table_full"] == 0;
  md << "| goal | figure | goal | result |\n|---|---|---|---|\n";
  md << "| user CPU per poll per connection at " << static_cast<long>(n_big) << " | "
     << Fmt(user_per, 0) << " ns | ≤ 500 ns | " << (user_per <= 500 ? "PASS" : "FAIL") << " |\n";
  md << "| (stricter) user+sys CPU per poll per connection at " << static_cast<long>(n_big) << " | "
     << Fmt(total_per, 0) << " ns | ≤ 500 ns | " << (total_per <= 500 ? "PASS" : "FAIL") << " |\n";
  md << "| linear: (user+sys) per connection at " << static_cast<long>(n_big)
     << " ÷ the same at the next smaller N | " << Fmt(lin, 2) << " | ≤ 1.5 | "
     << (lin <= 1.5 ? "PASS" : "FAIL") << " |\n";
  md << "| agent RSS at " << static_cast<long>(n_big) << " (VmHWM, peak) | "
     << Fmt(big["hwm_kib"] / 1024, 1) << " MiB | ≤ 32 MiB | "
     << (big["hwm_kib"] <= 32 * 1024 ? "PASS" : "FAIL") << " |\n";
  md << "| every socket tracked (no drop_table_full) | " << Fmt(big["tracked_kernel"], 0)
     << " tracked, " << Fmt(big["first_deltas"], 0) << " reported by the first two polls, of "
     << static_cast<long>(2 * n_big) << " | all | " << (tracked_all ? "PASS" : "FAIL") << " |\n\n";
  md << "Kernel memory: the socket storage map's memlock (fdinfo, what `bpftool map show` "
        "prints) is "
     << Fmt(big["sk_memlock"] / 1024, 1) << " KiB at every N — it counts the map's buckets only, "
     << "not the per-socket elements (all BPF maps of the tracer together: "
     << Fmt(big["maps_memlock"] / 1024, 0) << " KiB, mostly the close-event ring buffer). ";
  if (per_socket > 0)
    md << "The elements are allocated per socket: struct bpf_local_storage_elem (" << Fmt(elem, 0)
       << " B) + the " << Fmt(value, 0) << "-byte value, plus one struct bpf_local_storage ("
       << Fmt(storage, 0) << " B) per socket, ≈ " << Fmt(per_socket, 0)
       << " B per socket after kmalloc rounding (sizes from this kernel's BTF) → ≈ "
       << Fmt(per_socket * 2 * n_big / (1024 * 1024), 1) << " MiB of kernel memory for "
       << static_cast<long>(2 * n_big)
       << " tracked sockets, charged to the agent's memory cgroup on kernels ≥ 6.1 "
          "(an estimate, not a measurement).";
  md << "\n\n";
  return 0;
}

std::vector<long> ParseList(const std::string& s) {
  std::vector<long> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stol(item));
  return out;
}

int Main(int argc, char** argv) {
  std::string netload;
  std::vector<long> conns = {1000, 10000, 100000};
  long single = 0;
  int polls = 12;
  std::uint32_t max_connections = 262144;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value for " + a);
      return argv[++i];
    };
    if (a == "--netload")
      netload = next();
    else if (a == "--conns")
      conns = ParseList(next());
    else if (a == "--single")
      single = std::stol(next());
    else if (a == "--polls")
      polls = std::stoi(next());
    else if (a == "--max-connections")
      max_connections = static_cast<std::uint32_t>(std::stoul(next()));
    else {
      std::fprintf(stderr,
                   "usage: %s --netload PATH [--conns 1000,10000,100000] [--polls 12] "
                   "[--max-connections 262144]\n",
                   argv[0]);
      return 2;
    }
  }
  if (netload.empty()) throw std::runtime_error("--netload is required");
  if (polls < 10 || polls > 100) throw std::runtime_error("--polls must be within 10..100");
  for (long n : conns)
    if (n < 1 || n > 200000) throw std::runtime_error("--conns values must be within 1..200000");
  if (geteuid() != 0) {
    std::fprintf(stderr, "SKIP: needs root (BPF, network namespaces)\n");
    return 77;
  }
  if (single > 0) return Single(single, netload, polls, max_connections);
  char self[4096] = {};
  if (readlink("/proc/self/exe", self, sizeof self - 1) <= 0)
    throw std::runtime_error("cannot find own executable");
  InstallCleanupHandlers();
  return Driver(conns, netload, polls, max_connections, self);
}

}  // namespace
}  // namespace caretta::bench

int main(int argc, char** argv) {
  try {
    return caretta::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "caretta_bench_poll: %s\n", e.what());
    return 1;
  }
}
