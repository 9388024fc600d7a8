// Overhead of the agent on request/response traffic between two network namespaces.
//
// (a) In-kernel CPU: run time of all the agent's BPF programs (kernel.bpf_stats run
//     accounting) as a share of all busy CPU (/proc/stat, every CPU, non-idle) during
//     each run, beside floors measured in the same runs: an empty program on the same
//     tracepoint (empty_state_change on tp_btf/inet_sock_set_state) and, for context,
//     empty programs on the per-packet tracepoints tp_btf/sock_{send,recv}_length.
// (b) RR and CRR transaction rates with and without the agent, two ways:
//     - switched: one long run per mode; the tracer (in this process, polled every
//       second) has its hook attached and detached every window (100 ms), in ABBA
//       order, and the client's running transaction count is read at each window's
//       edges. Adjacent windows pair up, so the slow drift of this VM's speed
//       (tens of percent over seconds) cancels out; this decides the goal.
//     - whole agent: interleaved pairs of runs, the agent binary started before and
//       stopped after each "with" run (context: the drift between runs dominates).
//
// The agent is the real binary (--agent PATH, polling every second) or, without
// --agent, the caretta_tracer library in this process, polled every second.
// Markdown goes to stdout, progress to stderr.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_probes.skel.h"
#include "bench_util.h"
#include "caretta.skel.h"
#include "spdlog/spdlog.h"
#include "tracer/bpf_tracer.h"

namespace caretta::bench {
namespace {

struct Options {
  std::string netload;
  std::string agent;  // path of build/caretta; empty = in-process tracer
  std::string agent_log = "/tmp/caretta-bench-agent.log";
  double seconds = 3;
  int pairs = 10;
  int share_runs = 5;
  int msg = 64;
  int nice = -10;  // load generator niceness: less noise from other work on the machine
  int cpu = 0;     // client and server pinned to this CPU (-1 = not pinned)
  double switched_seconds = 40;  // one run per mode with the hook switched
  int window_ms = 100;           // ... every window
};

// A file in /dev/shm the load client writes its running transaction count to.
class SharedCounter {
 public:
  SharedCounter() {
    char path[] = "/dev/shm/caretta-bench-count-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) throw std::runtime_error(std::string("mkstemp: ") + std::strerror(errno));
    path_ = path;
    if (ftruncate(fd, sizeof(std::uint64_t)) != 0) {
      int e = errno;
      close(fd);
      unlink(path_.c_str());
      throw std::runtime_error(std::string("ftruncate: ") + std::strerror(e));
    }
    void* m = mmap(nullptr, sizeof(std::uint64_t), PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) {
      unlink(path_.c_str());
      throw std::runtime_error(std::string("mmap: ") + std::strerror(e));
    }
    count_ = static_cast<const std::atomic<std::uint64_t>*>(m);
  }
  ~SharedCounter() {
    munmap(const_cast<std::atomic<std::uint64_t>*>(count_), sizeof(std::uint64_t));
    unlink(path_.c_str());
  }
  SharedCounter(const SharedCounter&) = delete;
  SharedCounter& operator=(const SharedCounter&) = delete;
  const std::string& path() const { return path_; }
  std::uint64_t Read() const { return count_->load(std::memory_order_relaxed); }

 private:
  std::string path_;
  const std::atomic<std::uint64_t>* count_ = nullptr;
};

// Pins the calling thread (and the threads it starts) to every CPU but `cpu` while
// it lives, so the tracer's own work stays off the load generator's CPU.
class AvoidCpu {
 public:
  explicit AvoidCpu(int cpu) {
    if (cpu < 0 || sched_getaffinity(0, sizeof saved_, &saved_) != 0) return;
    cpu_set_t others = saved_;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) > 0 && sched_setaffinity(0, sizeof others, &others) == 0) active_ = true;
  }
  ~AvoidCpu() {
    if (active_) sched_setaffinity(0, sizeof saved_, &saved_);
  }
  AvoidCpu(const AvoidCpu&) = delete;
  AvoidCpu& operator=(const AvoidCpu&) = delete;

 private:
  cpu_set_t saved_{};
  bool active_ = false;
};

constexpr int kServerPort = 7800;

std::string Pct(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  if (v != 0 && std::fabs(v) < 0.001)
    std::snprintf(buf, sizeof buf, "%.2e %%", v);
  else
    std::snprintf(buf, sizeof buf, "%.3f %%", v);
  return buf;
}

std::uint16_t FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("cannot find a free loopback port");
  close(fd);
  return ntohs(a.sin_port);
}

// GET http://127.0.0.1:port/path; true on "200".
bool HttpOk(std::uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[64] = {};
      ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
      ok = n > 12 && std::strstr(buf, " 200") != nullptr;
    }
  }
  close(fd);
  return ok;
}

// The agent under test, running while the object lives.
class Agent {
 public:
  virtual ~Agent() = default;
  virtual pid_t pid() const = 0;
};

class AgentProcess : public Agent {
 public:
  AgentProcess(const Options& o) {
    std::uint16_t port = FreeLoopbackPort();
    pid_ = Spawn({o.agent, "--prometheus-port", std::to_string(port), "--listen-address",
                  "127.0.0.1", "--poll-interval", "1", "--log-level", "warn"},
                 "", nullptr, nullptr, o.agent_log);
    double deadline = MonotonicSeconds() + 30;
    while (!HttpOk(port, "/readyz")) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        UnregisterChild(pid_);
        pid_ = -1;
        throw std::runtime_error("the agent exited during start-up; see " + o.agent_log);
      }
      if (MonotonicSeconds() > deadline) {
        StopChild(pid_);
        throw std::runtime_error("the agent was not ready within 30 s; see " + o.agent_log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~AgentProcess() override { StopChild(pid_, 10); }
  pid_t pid() const override { return pid_; }

 private:
  pid_t pid_ = -1;
};

class AgentInProcess : public Agent {
 public:
  AgentInProcess() {
    tracer::TracerConfig cfg;
    cfg.self_tgid = static_cast<std::uint32_t>(getpid());
    tracer_ = std::make_unique<tracer::BpfTracer>(cfg);
    thread_ = std::thread([this] {
      std::unique_lock lock(mu_);
      do {
        lock.unlock();
        tracer_->Poll();
        lock.lock();
      } while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; }));
    });
  }
  ~AgentInProcess() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  pid_t pid() const override { return getpid(); }

 private:
  std::unique_ptr<tracer::BpfTracer> tracer_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

std::unique_ptr<Agent> StartAgent(const Options& o) {
  if (o.agent.empty()) return std::make_unique<AgentInProcess>();
  return std::make_unique<AgentProcess>(o);
}

// The floors: empty programs, loaded and attached by this process.
class Floors {
 public:
  Floors() {
    state_ = caretta_bpf__open();
    if (!state_) throw std::runtime_error("cannot open the caretta BPF object");
    bpf_program__set_autoload(state_->progs.on_state_change, false);
    bpf_program__set_autoload(state_->progs.dump_sockets, false);
    bpf_program__set_autoload(state_->progs.dump_task_sockets, false);
    bpf_program__set_autoload(state_->progs.adopt_sockets, false);
    if (caretta_bpf__load(state_) != 0) throw std::runtime_error("cannot load empty_state_change");
    state_->links.empty_state_change = bpf_program__attach(state_->progs.empty_state_change);
    if (!state_->links.empty_state_change)
      throw std::runtime_error("cannot attach empty_state_change");
    state_->links.empty_task_files =
        bpf_program__attach_iter(state_->progs.empty_task_files, nullptr);
    if (!state_->links.empty_task_files) throw std::runtime_error("cannot attach empty_task_files");
    // The agent walks every process's files once per poll (1 s here): so does the floor.
    walker_ = std::thread([this] {
      while (!stop_) {
        int fd = bpf_iter_create(bpf_link__fd(state_->links.empty_task_files));
        if (fd >= 0) {
          char buf[256];
          while (read(fd, buf, sizeof buf) > 0) {
          }
          close(fd);
        }
        for (int i = 0; i < 10 && !stop_; ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    pkt_ = bench_probes__open_and_load();
    if (!pkt_) throw std::runtime_error("cannot load the bench per-packet programs");
    if (bench_probes__attach(pkt_) != 0)
      throw std::runtime_error("cannot attach tp_btf/sock_{send,recv}_length");
  }
  ~Floors() {
    stop_ = true;
    walker_.join();
    bench_probes__destroy(pkt_);
    caretta_bpf__destroy(state_);
  }
  int state_fd() const { return bpf_program__fd(state_->progs.empty_state_change); }
  int walk_fd() const { return bpf_program__fd(state_->progs.empty_task_files); }
  std::vector<int> pkt_fds() const {
    return {bpf_program__fd(pkt_->progs.empty_send_len),
            bpf_program__fd(pkt_->progs.empty_recv_len)};
  }

 private:
  caretta_bpf* state_ = nullptr;
  bench_probes* pkt_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread walker_;
};

std::uint32_t ProgId(int fd) {
  bpf_prog_info info{};
  __u32 len = sizeof info;
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

struct ProgGroup {
  std::vector<ProgHandle> progs;
  std::pair<std::uint64_t, std::uint64_t> Read() const {  // (ns, runs)
    std::uint64_t ns = 0, cnt = 0;
    for (const ProgHandle& p : progs) {
      ProgStats s = p.Read();
      ns += s.run_time_ns;
      cnt += s.run_cnt;
    }
    return {ns, cnt};
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ReadEach() const {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
    for (const ProgHandle& p : progs) {
      ProgStats s = p.Read();
      out.emplace_back(s.run_time_ns, s.run_cnt);
    }
    return out;
  }
  std::string Names() const {
    std::string out;
    for (const ProgHandle& p : progs) out += (out.empty() ? "" : ", ") + p.name();
    return out;
  }
};

struct Sample {
  double tps = 0;
  double transactions = 0;
  double busy_ns = 0;
  double load_ns = 0;        // client + server process CPU
  double agent_user_ns = 0;  // agent process utime+stime
  double agent_ns = 0, agent_runs = 0;
  double floor_ns = 0, floor_runs = 0;
  double pkt_ns = 0, pkt_runs = 0;
  double walk_ns = 0, walk_runs = 0;  // the empty task-file walk, once per agent poll
  double same_points_ns() const { return floor_ns + walk_ns; }
  double same_points_runs() const { return floor_runs + walk_runs; }
  std::vector<double> prog_ns, prog_runs;  // per agent program
};

class Bench {
 public:
  explicit Bench(Options o) : o_(std::move(o)), net_(0) {
    net_.Sysctl(net_.client_ns(), "net.ipv4.ip_local_port_range", "1024 65535");
    net_.Sysctl(net_.client_ns(), "net.ipv4.tcp_tw_reuse", "1");
    net_.Sysctl(net_.server_ns(), "net.core.somaxconn", "4096");
    int out = -1;
    server_ = Spawn({o_.netload, "serve", "--addr", net_.server_ips()[0], "--port",
                     std::to_string(kServerPort), "--max-seconds", "900"},
                    net_.server_path(), &out, nullptr, "", o_.nice, o_.cpu);
    auto line = ReadLine(out, 10);
    close(out);
    if (!line || *line != "listening") throw std::runtime_error("the echo server did not start");
  }
  ~Bench() { StopChild(server_); }

  Sample RunClient(const std::string& mode, const Agent* agent, const ProgGroup* agent_progs,
                   const ProgGroup* floor, const ProgGroup* pkt, const ProgGroup* walk = nullptr) {
    Sample s;
    auto w0 = walk ? walk->Read() : std::pair<std::uint64_t, std::uint64_t>{};
    auto a0 = agent_progs ? agent_progs->Read() : std::pair<std::uint64_t, std::uint64_t>{};
    auto e0 = agent_progs ? agent_progs->ReadEach()
                          : std::vector<std::pair<std::uint64_t, std::uint64_t>>{};
    auto f0 = floor ? floor->Read() : std::pair<std::uint64_t, std::uint64_t>{};
    auto p0 = pkt ? pkt->Read() : std::pair<std::uint64_t, std::uint64_t>{};
    std::uint64_t srv0 = ProcessCpuNs(server_);
    std::uint64_t ag0 = agent ? ProcessCpuNs(agent->pid()) : 0;
    CpuTimes c0 = ReadCpuTimes();
    int out = -1;
    pid_t client = Spawn(
        {o_.netload, mode, "--addr", net_.server_ips()[0], "--port", std::to_string(kServerPort),
         "--seconds", Fmt(o_.seconds, 3), "--msg", std::to_string(o_.msg)},
        net_.client_path(), &out, nullptr, "", o_.nice, o_.cpu);
    std::string text = ReadAll(out, o_.seconds + 30);
    close(out);
    rusage ru{};
    int rc = WaitChild(client, 10, &ru);
    CpuTimes c1 = ReadCpuTimes();
    std::uint64_t srv1 = ProcessCpuNs(server_);
    std::uint64_t ag1 = agent ? ProcessCpuNs(agent->pid()) : 0;
    auto a1 = agent_progs ? agent_progs->Read() : a0;
    auto e1 = agent_progs ? agent_progs->ReadEach() : e0;
    for (std::size_t i = 0; i < e1.size(); ++i) {
      s.prog_ns.push_back(static_cast<double>(e1[i].first - e0[i].first));
      s.prog_runs.push_back(static_cast<double>(e1[i].second - e0[i].second));
    }
    auto f1 = floor ? floor->Read() : f0;
    auto p1 = pkt ? pkt->Read() : p0;
    auto w1 = walk ? walk->Read() : w0;
    s.walk_ns = static_cast<double>(w1.first - w0.first);
    s.walk_runs = static_cast<double>(w1.second - w0.second);
    if (rc != 0) throw std::runtime_error(mode + " client failed: " + text);
    std::map<std::string, double> kv;
    std::istringstream in(text);
    std::string tok;
    while (in >> tok) {
      auto eq = tok.find('=');
      if (eq != std::string::npos) kv[tok.substr(0, eq)] = std::stod(tok.substr(eq + 1));
    }
    s.tps = kv["tps"];
    s.transactions = kv["transactions"];
    s.busy_ns = static_cast<double>(c1.busy_ns - c0.busy_ns);
    double client_ns = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
                       static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
    s.load_ns = client_ns + static_cast<double>(srv1 - srv0);
    s.agent_user_ns = static_cast<double>(ag1 - ag0);
    s.agent_ns = static_cast<double>(a1.first - a0.first);
    s.agent_runs = static_cast<double>(a1.second - a0.second);
    s.floor_ns = static_cast<double>(f1.first - f0.first);
    s.floor_runs = static_cast<double>(f1.second - f0.second);
    s.pkt_ns = static_cast<double>(p1.first - p0.first);
    s.pkt_runs = static_cast<double>(p1.second - p0.second);
    std::fprintf(stderr, "  %s: %.0f tx/s%s\n", mode.c_str(), s.tps, agent ? " (agent)" : "");
    return s;
  }

  // Busy CPU of everything else on the machine, sampled while idle.
  double BackgroundCores(double seconds) {
    CpuTimes c0 = ReadCpuTimes();
    double t0 = MonotonicSeconds();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    CpuTimes c1 = ReadCpuTimes();
    return static_cast<double>(c1.busy_ns - c0.busy_ns) / ((MonotonicSeconds() - t0) * 1e9);
  }

  void Share(std::ostream& md) {
    std::fprintf(stderr, "(a) in-kernel CPU share, %d runs per mode\n", o_.share_runs);
    double background = BackgroundCores(1.0);
    BpfStatsEnabled stats;
    Floors floors;
    ProgGroup floor, pkt, agent_progs, walk;
    floor.progs.push_back(ProgHandle::FromFd(floors.state_fd()));
    walk.progs.push_back(ProgHandle::FromFd(floors.walk_fd()));
    for (int fd : floors.pkt_fds()) pkt.progs.push_back(ProgHandle::FromFd(fd));
    std::vector<std::uint32_t> mine = {ProgId(floors.state_fd()), ProgId(floors.walk_fd())};
    for (int fd : floors.pkt_fds()) mine.push_back(ProgId(fd));
    std::unique_ptr<Agent> agent = StartAgent(o_);
    for (std::uint32_t id : BpfProgIdsOf(agent->pid()))
      if (std::find(mine.begin(), mine.end(), id) == mine.end())
        agent_progs.progs.push_back(ProgHandle::FromId(id));
    if (agent_progs.progs.empty()) throw std::runtime_error("found no BPF program of the agent");

    std::map<std::string, std::vector<Sample>> samples;
    for (int r = 0; r < o_.share_runs; ++r)
      for (const std::string mode : {"rr", "crr"})
        samples[mode].push_back(RunClient(mode, agent.get(), &agent_progs, &floor, &pkt, &walk));
    agent.reset();

    md << "## (a) In-kernel CPU of the agent as a share of all busy CPU\n\n"
       << "Run time of the agent's BPF programs (`" << agent_progs.Names()
       << "`, from `bpf_obj_get_info_by_fd` (struct bpf_prog_info run_time_ns / run_cnt) with "
          "`kernel.bpf_stats_enabled` accounting on) "
          "divided by all busy CPU of the machine (/proc/stat, all CPUs, non-idle) during each "
          "run. Floors are measured in the same runs, attached at the same time: `"
       << floor.Names() << "` = an empty program on the agent's only hook "
       << "(tp_btf/inet_sock_set_state); `" << walk.Names()
       << "` = an empty iter/task_file program, walked once a second like the agent's "
          "listing (`dump_task_sockets`, one run per open file of every process): together "
          "they are the floor of the agent's attach points; `"
       << pkt.Names()
       << "` = empty programs on tp_btf/sock_send_length + sock_recv_length, the per-packet "
          "hooks a byte-counting tracer needs (context only: what a per-packet design pays "
          "before doing any work). "
       << o_.share_runs << " runs of " << Fmt(o_.seconds, 0) << " s per mode, " << o_.msg
       << "-byte messages, one client, client and server at nice " << o_.nice << Pinned()
       << "; figures are medians with [min – max]. The last column divides by the load "
          "generator's own CPU instead (client + server processes, including the softirq work "
          "that runs in their context): other work on the machine cannot dilute it, so it is "
          "the stricter figure. Agent: "
       << (o_.agent.empty() ? "caretta_tracer in-process, polled every 1 s"
                            : "`" + o_.agent + " --poll-interval 1`")
       << ". Background busy CPU of other processes before the runs: " << Fmt(background, 2)
       << " cores.\n\n";
    md << "| mode | tx/s | program | runs / tx | ns / run | share of busy CPU | "
          "share of load-generator CPU |\n|---|---|---|---|---|---|---|\n";
    for (const std::string mode : {"rr", "crr"}) {
      const auto& v = samples[mode];
      auto col = [&](auto f) {
        std::vector<double> x;
        for (const Sample& s : v) x.push_back(f(s));
        return x;
      };
      auto span = [&](const std::vector<double>& x, auto fmt) {
        return fmt(Median(x)) + " [" + fmt(Min(x)) + " – " + fmt(Max(x)) + "]";
      };
      auto pct = [](double x) { return Pct(x); };
      auto num = [](double x) { return Fmt(x, 1); };
      struct Row {
        const char* what;
        double Sample::*ns;
        double Sample::*runs;
      };
      for (Row row :
           {Row{"agent (all programs)", &Sample::agent_ns, &Sample::agent_runs},
            Row{"floor: empty, same tracepoint", &Sample::floor_ns, &Sample::floor_runs},
            Row{"floor: empty task-file walk, once per poll", &Sample::walk_ns, &Sample::walk_runs},
            Row{"context: empty, per-packet send/recv", &Sample::pkt_ns, &Sample::pkt_runs}}) {
        md << "| " << mode << " | " << Fmt(Median(col([](const Sample& s) { return s.tps; })), 0)
           << " | " << row.what << " | "
           << Fmt(Median(col([&](const Sample& s) { return s.*row.runs / s.transactions; })), 3)
           << " | "
           << Fmt(Median(col([&](const Sample& s) {
                    return s.*row.runs > 0 ? s.*row.ns / s.*row.runs : 0.0;
                  })),
                  0)
           << " | " << span(col([&](const Sample& s) { return 100 * s.*row.ns / s.busy_ns; }), pct)
           << " | "
           << Pct(Median(col([&](const Sample& s) { return 100 * s.*row.ns / s.load_ns; })))
           << " |\n";
      }
      for (std::size_t p = 0; p < agent_progs.progs.size(); ++p) {
        md << "| " << mode << " | | agent: `" << agent_progs.progs[p].name() << "` | "
           << Fmt(Median(col([&](const Sample& s) { return s.prog_runs[p] / s.transactions; })), 3)
           << " | "
           << Fmt(Median(col([&](const Sample& s) {
                    return s.prog_runs[p] > 0 ? s.prog_ns[p] / s.prog_runs[p] : 0.0;
                  })),
                  0)
           << " | "
           << Pct(Median(col([&](const Sample& s) { return 100 * s.prog_ns[p] / s.busy_ns; })))
           << " | "
           << Pct(Median(col([&](const Sample& s) { return 100 * s.prog_ns[p] / s.load_ns; })))
           << " |\n";
      }
      (void)num;
    }
    md << "\n";
    std::vector<double> rr_ratio, crr_share, crr_share_load, rr_vs_pkt, crr_vs_pkt, user_rr,
        user_crr;
    std::vector<double> rr_vs_tracepoint;
    for (const Sample& s : samples["rr"]) {
      rr_ratio.push_back(s.same_points_ns() > 0 ? s.agent_ns / s.same_points_ns() : NAN);
      rr_vs_tracepoint.push_back(s.floor_ns > 0 ? s.agent_ns / s.floor_ns : NAN);
      rr_vs_pkt.push_back(s.pkt_ns > 0 ? s.agent_ns / s.pkt_ns : NAN);
      user_rr.push_back(100 * s.agent_user_ns / s.busy_ns);
    }
    for (const Sample& s : samples["crr"]) {
      crr_share.push_back(100 * s.agent_ns / s.busy_ns);
      crr_share_load.push_back(100 * s.agent_ns / s.load_ns);
      crr_vs_pkt.push_back(s.pkt_ns > 0 ? s.agent_ns / s.pkt_ns : NAN);
      user_crr.push_back(100 * s.agent_user_ns / s.busy_ns);
    }
    double rr_med = Median(rr_ratio), crr_med = Median(crr_share);
    // What (a) predicts for (b) if the agent's in-kernel time simply adds to the
    // serial work of each transaction: rate ratio = 1 / (1 + agent / load CPU).
    for (const std::string mode : {"rr", "crr"}) {
      std::vector<double> x;
      for (const Sample& s : samples[mode]) x.push_back(1.0 / (1.0 + s.agent_ns / s.load_ns));
      predicted_[mode] = Median(x);
    }
    md << "| goal | figure (median [min – max]) | goal | result |\n|---|---|---|---|\n";
    md << "| RR: agent share / floor share (empty programs on the same attach points: the "
          "tracepoint and the per-poll task-file walk) | "
       << Fmt(rr_med, 2) << " × [" << Fmt(Min(rr_ratio), 2) << " – " << Fmt(Max(rr_ratio), 2)
       << "] | ≤ 1.5 × | " << (rr_med <= 1.5 ? "PASS" : "FAIL") << " |\n";
    md << "| CRR: agent share of busy CPU | " << Pct(crr_med) << " [" << Pct(Min(crr_share))
       << " – " << Pct(Max(crr_share)) << "] | ≤ 1.5 % | " << (crr_med <= 1.5 ? "PASS" : "FAIL")
       << " |\n";
    md << "| CRR, stricter denominator: agent / load-generator CPU only | "
       << Pct(Median(crr_share_load)) << " [" << Pct(Min(crr_share_load)) << " – "
       << Pct(Max(crr_share_load)) << "] | ≤ 1.5 % | "
       << (Median(crr_share_load) <= 1.5 ? "PASS" : "FAIL") << " |\n";
    md << "| context — RR: agent / the empty tracepoint program alone (the walk not in the "
          "floor) | "
       << Fmt(Median(rr_vs_tracepoint), 1) << " × | — | — |\n";
    md << "| context — RR: agent / empty per-packet programs | " << Fmt(Median(rr_vs_pkt), 4)
       << " × | — | — |\n";
    md << "| context — CRR: agent / empty per-packet programs | " << Fmt(Median(crr_vs_pkt), 3)
       << " × | — | — |\n";
    md << "| context — agent user-space CPU ("
       << (o_.agent.empty() ? "in-process poller" : "agent process")
       << ") share of busy CPU, RR / CRR | " << Pct(Median(user_rr)) << " / "
       << Pct(Median(user_crr)) << " | — | — |\n\n";
    std::vector<double> rr_events;
    for (const Sample& s : samples["rr"]) rr_events.push_back(s.floor_runs);
    std::vector<double> walk_runs;
    for (const Sample& s : samples["rr"]) walk_runs.push_back(s.walk_runs);
    md << "RR keeps one connection open for the whole run, so its own state changes are about "
          "ten per run (open and close, both ends); the floor counted a median of "
       << Fmt(Median(rr_events), 0)
       << " state changes per RR run. Nothing runs per packet: what the agent spends in RR "
          "is its once-a-second listing, one program run per open file of every process on "
          "the machine (the empty walk made a median of "
       << Fmt(Median(walk_runs), 0)
       << " runs per RR run). Measured against the empty tracepoint program alone, that "
          "listing dwarfs ten state changes (the context row); measured against the same "
          "walk with an empty program, it is the agent's own work per file that counts: one "
          "compare for a file that is not a socket.\n\n";
  }

  struct Switched {
    std::vector<double> on, off, ratio;  // window rates (tx/s) and per-pair ratios
    double closes_seen = 0;              // closes the hook counted in the run
    int polls = 0;
  };

  // One run of `mode` with the tracer's hook switched every window (see the top).
  // `control`: the same windows and pairing, the hook never attached (A/A): what the
  // method alone gives, its bias and spread.
  Switched RunSwitched(const std::string& mode, bool control) {
    Switched out;
    SharedCounter counter;
    AvoidCpu avoid(o_.cpu);
    tracer::TracerConfig cfg;
    cfg.self_tgid = static_cast<std::uint32_t>(getpid());
    tracer::BpfTracer tracer(cfg);
    tracer.AdoptExisting({});
    tracer.Poll();
    tracer.SetStateHookAttached(false);
    std::uint64_t closed0 = tracer.ReadCounter(CARETTA_CNT_CLOSED);
    int outfd = -1;
    pid_t client = Spawn({o_.netload, mode, "--addr", net_.server_ips()[0], "--port",
                          std::to_string(kServerPort), "--seconds", Fmt(o_.switched_seconds, 3),
                          "--msg", std::to_string(o_.msg), "--counter-file", counter.path()},
                         net_.client_path(), &outfd, nullptr, "", o_.nice, o_.cpu);
    const double start = MonotonicSeconds();
    const double window = o_.window_ms / 1000.0, settle = 0.02;
    auto sleep_until = [](double t) {
      double d = t - MonotonicSeconds();
      if (d > 0) std::this_thread::sleep_for(std::chrono::duration<double>(d));
    };
    sleep_until(start + 0.5);  // connected and warm
    double last_poll = MonotonicSeconds();
    bool on_first = true;  // ABBA: on,off | off,on | on,off ...
    for (int k = 0; MonotonicSeconds() + settle + window < start + o_.switched_seconds - 0.2; ++k) {
      bool on = (k % 2 == 0) == on_first;
      bool attach = on && !control;
      tracer.SetStateHookAttached(attach);
      sleep_until(MonotonicSeconds() + settle);
      double t0 = MonotonicSeconds();
      std::uint64_t c0 = counter.Read();
      if (attach && t0 - last_poll >= 1.0) {  // the agent's once-a-second poll
        tracer.Poll();
        last_poll = t0;
        ++out.polls;
      }
      sleep_until(t0 + window);
      std::uint64_t c1 = counter.Read();
      (on ? out.on : out.off).push_back(static_cast<double>(c1 - c0) / (MonotonicSeconds() - t0));
      if (k % 2 == 1) {  // a pair is complete: its on and off windows are the last of each
        if (out.off.back() > 0) out.ratio.push_back(out.on.back() / out.off.back());
        on_first = !on_first;
      }
    }
    tracer.SetStateHookAttached(false);
    out.closes_seen = static_cast<double>(tracer.ReadCounter(CARETTA_CNT_CLOSED) - closed0);
    std::string text = ReadAll(outfd, o_.switched_seconds + 30);
    close(outfd);
    if (WaitChild(client, 10) != 0) throw std::runtime_error(mode + " client failed: " + text);
    std::fprintf(stderr, "  %s %s: %zu pairs, median ratio %.4f\n", mode.c_str(),
                 control ? "control" : "switched", out.ratio.size(), Median(out.ratio));
    return out;
  }

  void SwitchedRates(std::ostream& md) {
    std::fprintf(stderr, "(b) rates, the hook switched every %d ms for %.0f s per mode\n",
                 o_.window_ms, o_.switched_seconds);
    std::map<std::string, Switched> runs, controls;
    for (const std::string mode : {"rr", "crr"}) {
      runs[mode] = RunSwitched(mode, false);
      controls[mode] = RunSwitched(mode, true);
    }
    md << "## (b) Transaction rates with and without the agent\n\n"
       << "### Switched under one run (decides the goal)\n\n"
       << "This VM's speed drifts by tens of percent over seconds (the whole-agent pairs "
          "below show it), far more than the effect to measure, so the comparison is made "
          "between adjacent short windows of one long run. One run of "
       << Fmt(o_.switched_seconds, 0) << " s per mode, " << o_.msg
       << "-byte request and response, one client, client and server at nice " << o_.nice
       << Pinned()
       << ". The tracer (`caretta_tracer::BpfTracer`, the agent's kernel side, configured as "
          "the agent configures it) runs in the benchmark process, kept off the load's CPU; "
          "its state-change hook is attached for one window and detached for the next, "
       << o_.window_ms
       << " ms each, in ABBA order, and it polls once a second during attached windows (the "
          "poll's walk of every process runs then too). Detached, no program of ours runs "
          "at all: the tracepoint is off. Each window starts 20 ms after the switch; the "
          "client's running transaction count (shared memory) is read at its edges. Ratio "
          "= attached / detached rate within each adjacent pair; the median of pairs "
          "decides. `closes seen` proves the hook did its work while attached. The control "
          "rows repeat each run with the hook never attached (A/A): the method's own bias "
          "and spread, to read the ratios against.\n\n";
    md << "| mode | tx/s detached (median) | tx/s attached (median) | pairs | ratio (median "
          "of pairs) | ratio IQR | ratio [min – max] | closes seen | polls | goal | result "
          "|\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    auto row = [&](const std::string& label, const Switched& r, const std::string& verdict) {
      md << "| " << label << " | " << Fmt(Median(r.off), 0) << " | " << Fmt(Median(r.on), 0)
         << " | " << r.ratio.size() << " | " << Fmt(Median(r.ratio), 4) << " | "
         << Fmt(Percentile(r.ratio, 0.25), 3) << " – " << Fmt(Percentile(r.ratio, 0.75), 3) << " | "
         << Fmt(Min(r.ratio), 3) << " – " << Fmt(Max(r.ratio), 3) << " | " << Fmt(r.closes_seen, 0)
         << " | " << r.polls << " | " << verdict << " |\n";
    };
    for (const std::string mode : {"rr", "crr"}) {
      double goal = mode == "rr" ? 0.99 : 0.98;
      row(mode, runs[mode],
          "≥ " + Fmt(goal, 2) + " | " + (Median(runs[mode].ratio) >= goal ? "PASS" : "FAIL"));
    }
    for (const std::string mode : {"rr", "crr"})
      row(mode + ", control (never attached)", controls[mode], "— | —");
    md << "\n";
  }

  void Rates(std::ostream& md) {
    std::fprintf(stderr, "(b) rates with/without the agent, %d interleaved pairs\n", o_.pairs);
    std::map<std::string, std::vector<double>> with, without, ratio;
    for (int i = 0; i < o_.pairs; ++i) {
      for (const std::string mode : {"rr", "crr"}) {
        bool agent_first = i % 2 == 1;  // ABBA order against drift
        double w = 0, wo = 0;
        for (int k = 0; k < 2; ++k) {
          if ((k == 0) == agent_first) {
            std::unique_ptr<Agent> agent = StartAgent(o_);
            w = RunClient(mode, agent.get(), nullptr, nullptr, nullptr).tps;
          } else {
            wo = RunClient(mode, nullptr, nullptr, nullptr, nullptr).tps;
          }
        }
        with[mode].push_back(w);
        without[mode].push_back(wo);
        ratio[mode].push_back(w / wo);
      }
    }
    md << "### Whole agent, interleaved runs (context)\n\n"
       << o_.pairs << " interleaved pairs per mode (order alternates, RR and CRR pairs alternate "
       << "too), " << Fmt(o_.seconds, 0) << " s per run, " << o_.msg
       << "-byte request and response, one client, client and server at nice " << o_.nice
       << Pinned() << ", between two network namespaces on a veth pair. With = "
       << (o_.agent.empty() ? "caretta_tracer loaded in-process, polled every 1 s"
                            : "`" + o_.agent + " --poll-interval 1` running")
       << "; without = no BPF program of ours loaded. Ratio = with / without within a pair; "
          "spread = [min – max] and inter-quartile range; baseline spread = how much the "
          "without-agent runs themselves vary (max/min − 1).\n\n";
    md << "| mode | tx/s without (median) | tx/s with (median) | ratio (median of pairs) | "
          "ratio [min – max] | ratio IQR | baseline spread | goal | result |\n"
          "|---|---|---|---|---|---|---|---|---|\n";
    for (const std::string mode : {"rr", "crr"}) {
      double goal = mode == "rr" ? 0.99 : 0.98;
      double med = Median(ratio[mode]);
      md << "| " << mode << " | " << Fmt(Median(without[mode]), 0) << " | "
         << Fmt(Median(with[mode]), 0) << " | " << Fmt(med, 3) << " | " << Fmt(Min(ratio[mode]), 3)
         << " – " << Fmt(Max(ratio[mode]), 3) << " | " << Fmt(Percentile(ratio[mode], 0.25), 3)
         << " – " << Fmt(Percentile(ratio[mode], 0.75), 3) << " | ±"
         << Fmt(50 * (Max(without[mode]) / Min(without[mode]) - 1), 1) << " % | ≥ " << Fmt(goal, 2)
         << " | " << (med >= goal ? "PASS" : "FAIL") << " |\n";
    }
    if (!predicted_.empty())
      md << "\nPredicted from (a) — the agent's in-kernel time added to the serial work of each "
            "transaction, ratio = 1 / (1 + agent ns / load-generator ns), free of the rate noise: "
            "RR "
         << Fmt(predicted_["rr"], 4) << ", CRR " << Fmt(predicted_["crr"], 4)
         << " (the agent's user-space CPU, which runs on another CPU here, is not included).\n";
    md << "\nPer-pair ratios, in run order:\n\n";
    for (const std::string mode : {"rr", "crr"}) {
      md << "- " << mode << ":";
      for (double r : ratio[mode]) md << " " << Fmt(r, 3);
      md << "\n";
    }
    md << "\n";
  }

  std::string Pinned() const {
    return o_.cpu >= 0
               ? " and pinned to CPU " + std::to_string(o_.cpu) + " (the agent is not pinned)"
               : "";
  }

  void Warmup() {
    std::fprintf(stderr, "warm-up\n");
    Options saved = o_;
    o_.seconds = 1;
    RunClient("rr", nullptr, nullptr, nullptr, nullptr);
    RunClient("crr", nullptr, nullptr, nullptr, nullptr);
    o_ = saved;
  }

 private:
  Options o_;
  std::map<std::string, double> predicted_;  // rate ratio predicted from (a)
  NetnsPair net_;
  pid_t server_ = -1;
};

int Main(int argc, char** argv) {
  Options o;
  bool do_share = true, do_rates = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value for " + a);
      return argv[++i];
    };
    if (a == "--netload")
      o.netload = next();
    else if (a == "--agent")
      o.agent = next();
    else if (a == "--agent-log")
      o.agent_log = next();
    else if (a == "--seconds")
      o.seconds = std::stod(next());
    else if (a == "--pairs")
      o.pairs = std::stoi(next());
    else if (a == "--share-runs")
      o.share_runs = std::stoi(next());
    else if (a == "--msg")
      o.msg = std::stoi(next());
    else if (a == "--nice")
      o.nice = std::stoi(next());
    else if (a == "--cpu")
      o.cpu = std::stoi(next());
    else if (a == "--switched-seconds")
      o.switched_seconds = std::stod(next());
    else if (a == "--window-ms")
      o.window_ms = std::stoi(next());
    else if (a == "--only") {
      std::string what = next();
      do_share = what == "share";
      do_rates = what == "rates";
    } else {
      std::fprintf(stderr,
                   "usage: %s --netload PATH [--agent PATH] [--seconds 3] [--pairs 10] "
                   "[--share-runs 5] [--msg 64] [--nice -10] [--cpu 0|-1] [--switched-seconds 40] "
                   "[--window-ms 100] [--only share|rates]\n",
                   argv[0]);
      return 2;
    }
  }
  if (o.netload.empty()) throw std::runtime_error("--netload is required");
  if (o.seconds <= 0 || o.seconds > 30 || o.pairs < 1 || o.pairs > 50 || o.share_runs < 1 ||
      o.share_runs > 50 || o.switched_seconds < 2 || o.switched_seconds > 120 || o.window_ms < 20 ||
      o.window_ms > 5000)
    throw std::runtime_error(
        "out-of-range option (seconds ≤ 30, pairs/share-runs ≤ 50, switched-seconds 2–120, "
        "window-ms 20–5000)");
  if (geteuid() != 0) {
    std::fprintf(stderr, "SKIP: needs root (BPF, network namespaces)\n");
    return 77;
  }
  InstallCleanupHandlers();
  spdlog::set_level(spdlog::level::warn);
  Bench bench(o);
  bench.Warmup();
  if (do_share) bench.Share(std::cout);
  std::cout.flush();
  if (do_rates) {
    bench.SwitchedRates(std::cout);
    std::cout.flush();
    bench.Rates(std::cout);
  }
  return 0;
}

}  // namespace
}  // namespace caretta::bench

int main(int argc, char** argv) {
  try {
    return caretta::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "caretta_bench_overhead: %s\n", e.what());
    return 1;
  }
}
