// Shared plumbing for the benchmarks: namespaces created (and always removed) by the
// benchmark, child processes started inside them, CPU accounting from /proc, BPF
// program run-time statistics, and small statistics helpers.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "netns.h"  // tests/common: caretta::testing::Run

namespace caretta::bench {

// Runs a shell command; throws std::runtime_error with its output on failure.
using caretta::testing::Run;
std::string RunCapture(const std::string& command);

// Two network namespaces joined by a veth pair: "client" (10.X.Y.1 + aliases) and
// "server" (10.X.Y.2 + aliases). Removed in the destructor and, via
// InstallCleanupHandlers(), on SIGINT/SIGTERM/SIGHUP.
class NetnsPair {
 public:
  // `server_aliases` extra addresses on the server side (10.X.Y.3 ...).
  explicit NetnsPair(int server_aliases = 0);
  ~NetnsPair();
  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;

  const std::string& client_ns() const { return client_; }
  const std::string& server_ns() const { return server_; }
  std::string client_path() const { return "/var/run/netns/" + client_; }
  std::string server_path() const { return "/var/run/netns/" + server_; }
  const std::string& client_ip() const { return client_ip_; }
  const std::vector<std::string>& server_ips() const { return server_ips_; }
  // sysctl inside one namespace, e.g. Sysctl(server_ns(), "net.core.somaxconn", "65535").
  void Sysctl(const std::string& ns, const std::string& key, const std::string& value) const;

 private:
  std::string client_, server_;
  std::string client_ip_;
  std::vector<std::string> server_ips_;
};

// Kills registered children and removes registered namespaces on fatal signals
// (async-signal-safe: kill, umount2, unlink), then exits 130.
void InstallCleanupHandlers();
void RegisterChild(pid_t pid);
void UnregisterChild(pid_t pid);

// Starts argv[0] (a path) with argv inside network namespace `netns_path` ("" = the
// caller's). If `out_fd` is set, the child's stdout is a pipe readable there; if
// `in_fd` is set, its stdin is a pipe writable there. The child is registered for
// cleanup.
// `log_path` (if set) receives the child's stdout and stderr instead; `nice_value`
// is the child's scheduling niceness (negative = favoured over other processes); `cpu`
// (if >= 0) pins the child to that CPU.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& netns_path,
            int* out_fd = nullptr, int* in_fd = nullptr, const std::string& log_path = "",
            int nice_value = 0, int cpu = -1);
// Waits up to `timeout_s`; on timeout SIGKILLs. Returns the exit status (or -1).
int WaitChild(pid_t pid, double timeout_s, struct rusage* usage = nullptr);
// SIGTERM, then SIGKILL after `grace_s`.
void StopChild(pid_t pid, double grace_s = 5);
// Reads one line from fd with a deadline; nullopt on EOF/timeout.
std::optional<std::string> ReadLine(int fd, double timeout_s);
std::string ReadAll(int fd, double timeout_s);

// Whole-machine CPU from /proc/stat in nanoseconds.
struct CpuTimes {
  std::uint64_t busy_ns = 0;  // user+nice+system+irq+softirq (guest is inside user)
  std::uint64_t total_ns = 0; // busy + idle + iowait + steal
};
CpuTimes ReadCpuTimes();
// utime+stime of one process (all threads) in nanoseconds; 0 if gone.
std::uint64_t ProcessCpuNs(pid_t pid);
// VmRSS / VmHWM etc. of this process in KiB.
std::uint64_t StatusKib(const std::string& field);

// BPF program ids held by a process through prog or link fds (from /proc/PID/fdinfo).
std::vector<std::uint32_t> BpfProgIdsOf(pid_t pid);
// Fields of map fds held by a process (map_type, memlock, ...), one entry per map.
struct MapFdInfo {
  std::uint32_t id = 0, type = 0, value_size = 0, max_entries = 0;
  std::uint64_t memlock = 0;
};
std::vector<MapFdInfo> BpfMapsOf(pid_t pid);

struct ProgStats {
  std::string name;
  std::uint64_t run_time_ns = 0, run_cnt = 0;
};
// Opened BPF program, by id or by fd (dup'ed), whose run statistics can be read.
class ProgHandle {
 public:
  static ProgHandle FromId(std::uint32_t id);
  static ProgHandle FromFd(int fd);
  ProgHandle(ProgHandle&& o) noexcept : fd_(o.fd_), name_(std::move(o.name_)) { o.fd_ = -1; }
  ~ProgHandle();
  ProgStats Read() const;
  const std::string& name() const { return name_; }

 private:
  ProgHandle() = default;
  int fd_ = -1;
  std::string name_;
};

// Turns on kernel.bpf_stats_enabled run-time accounting for the object's lifetime
// through BPF_ENABLE_STATS (a file descriptor: the kernel turns it back off when the
// fd closes, even if this process dies; the sysctl's own value is never changed).
class BpfStatsEnabled {
 public:
  BpfStatsEnabled();
  ~BpfStatsEnabled();
  BpfStatsEnabled(const BpfStatsEnabled&) = delete;
  BpfStatsEnabled& operator=(const BpfStatsEnabled&) = delete;

 private:
  int fd_ = -1;
};

double Median(std::vector<double> v);
double Percentile(std::vector<double> v, double p);  // p in [0,1], linear
double Min(const std::vector<double>& v);
double Max(const std::vector<double>& v);
std::string Fmt(double v, int decimals);
std::string NowUtc();
std::string KernelRelease();
double MonotonicSeconds();

}  // namespace caretta::bench
