#include "bench_util.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace caretta::bench {
namespace {

// Registry read by the signal handler: fixed-size, no allocation.
constexpr int kMaxChildren = 64;
constexpr int kMaxNetns = 16;
std::atomic<pid_t> g_children[kMaxChildren];
char g_netns[kMaxNetns][96];
std::atomic<bool> g_netns_used[kMaxNetns];

void RegisterNetns(const std::string& name) {
  for (int i = 0; i < kMaxNetns; ++i) {
    bool expected = false;
    if (g_netns_used[i].compare_exchange_strong(expected, true)) {
      std::snprintf(g_netns[i], sizeof g_netns[i], "/var/run/netns/%s", name.c_str());
      return;
    }
  }
}

void UnregisterNetns(const std::string& name) {
  std::string path = "/var/run/netns/" + name;
  for (int i = 0; i < kMaxNetns; ++i)
    if (g_netns_used[i] && path == g_netns[i]) g_netns_used[i] = false;
}

void OnFatalSignal(int sig) {
  for (auto& c : g_children) {
    pid_t p = c.load();
    if (p > 0) kill(p, SIGKILL);
  }
  for (int i = 0; i < kMaxNetns; ++i) {
    if (!g_netns_used[i]) continue;
    umount2(g_netns[i], MNT_DETACH);  // what `ip netns del` does
    unlink(g_netns[i]);
  }
  const char msg[] = "bench: interrupted, namespaces removed\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(128 + sig);
}

std::string Tag() {
  const char* t = std::getenv("CARETTA_BENCH_NS_TAG");
  if (t && *t) return t;
  return "cb" + std::to_string(getpid());
}

std::uint64_t TicksToNs(std::uint64_t ticks) {
  static const long hz = sysconf(_SC_CLK_TCK);
  return ticks * (1'000'000'000ull / static_cast<std::uint64_t>(hz));
}

std::string FdInfo(pid_t pid, const char* fd) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/fdinfo/" + fd);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::uint64_t Field(const std::string& text, const std::string& key) {
  auto pos = text.find("\n" + key + ":");
  if (pos == std::string::npos) {
    if (text.rfind(key + ":", 0) != 0) return 0;
    pos = 0;
  } else {
    pos += 1;
  }
  pos += key.size() + 1;
  return std::strtoull(text.c_str() + pos, nullptr, 10);
}

// Lists `anon_inode:<kind>` fds of a process.
std::vector<std::string> AnonFds(pid_t pid, const std::string& kind) {
  std::vector<std::string> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[256] = {};
    std::string link = dir + "/" + e->d_name;
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    if (n > 0 && kind == target) out.push_back(e->d_name);
  }
  closedir(d);
  return out;
}

}  // namespace

std::string RunCapture(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return out;
}

NetnsPair::NetnsPair(int server_aliases) {
  static std::atomic<int> seq{0};
  std::string base = Tag() + "n" + std::to_string(seq++);
  client_ = base + "c";
  server_ = base + "s";
  client_ip_ = "10.77.0.1";
  for (int i = 0; i <= server_aliases; ++i) server_ips_.push_back("10.77.0." + std::to_string(2 + i));
  try {
    RegisterNetns(client_);
    Run("ip netns add " + client_);
    RegisterNetns(server_);
    Run("ip netns add " + server_);
    Run("ip link add eth0 netns " + client_ + " type veth peer name eth0 netns " + server_);
    for (const std::string* ns : {&client_, &server_}) {
      Run("ip -n " + *ns + " link set lo up");
      Run("ip -n " + *ns + " link set eth0 up");
    }
    Run("ip -n " + client_ + " addr add " + client_ip_ + "/24 dev eth0");
    for (const std::string& ip : server_ips_)
      Run("ip -n " + server_ + " addr add " + ip + "/24 dev eth0");
  } catch (...) {
    this->~NetnsPair();
    throw;
  }
}

NetnsPair::~NetnsPair() {
  for (const std::string* ns : {&client_, &server_}) {
    if (ns->empty()) continue;
    (void)!system(("ip netns del " + *ns + " 2>/dev/null").c_str());
    UnregisterNetns(*ns);
  }
}

void NetnsPair::Sysctl(const std::string& ns, const std::string& key,
                       const std::string& value) const {
  Run("ip netns exec " + ns + " sysctl -q -w " + key + "='" + value + "'");
}

void InstallCleanupHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnFatalSignal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaction(s, &sa, nullptr);
}

void RegisterChild(pid_t pid) {
  for (auto& c : g_children) {
    pid_t expected = 0;
    if (c.compare_exchange_strong(expected, pid)) return;
  }
}

void UnregisterChild(pid_t pid) {
  for (auto& c : g_children) {
    pid_t expected = pid;
    c.compare_exchange_strong(expected, 0);
  }
}

pid_t Spawn(const std::vector<std::string>& argv, const std::string& netns_path, int* out_fd,
            int* in_fd, const std::string& log_path, int nice_value, int cpu) {
  int out_pipe[2] = {-1, -1}, in_pipe[2] = {-1, -1};
  if (out_fd && pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  if (in_fd && pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  int ns_fd = -1;
  if (!netns_path.empty()) {
    ns_fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) throw std::runtime_error("open " + netns_path + ": " + std::strerror(errno));
  }
  int log_fd = -1;
  if (!log_path.empty()) {
    log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) throw std::runtime_error("open " + log_path + ": " + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the benchmark
    if (nice_value != 0) setpriority(PRIO_PROCESS, 0, nice_value);
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      sched_setaffinity(0, sizeof set, &set);
    }
    if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNET) != 0) _exit(126);
    if (out_fd) dup2(out_pipe[1], 1);
    if (in_fd) dup2(in_pipe[0], 0);
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  if (ns_fd >= 0) close(ns_fd);
  if (log_fd >= 0) close(log_fd);
  if (out_fd) {
    close(out_pipe[1]);
    *out_fd = out_pipe[0];
  }
  if (in_fd) {
    close(in_pipe[0]);
    *in_fd = in_pipe[1];
  }
  RegisterChild(pid);
  return pid;
}

int WaitChild(pid_t pid, double timeout_s, struct rusage* usage) {
  double deadline = MonotonicSeconds() + timeout_s;
  int status = 0;
  for (;;) {
    pid_t r = wait4(pid, &status, WNOHANG, usage);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (MonotonicSeconds() > deadline) {
      kill(pid, SIGKILL);
      wait4(pid, &status, 0, usage);
      UnregisterChild(pid);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  UnregisterChild(pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void StopChild(pid_t pid, double grace_s) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  WaitChild(pid, grace_s);
}

std::optional<std::string> ReadLine(int fd, double timeout_s) {
  std::string line;
  double deadline = MonotonicSeconds() + timeout_s;
  for (;;) {
    double left = deadline - MonotonicSeconds();
    if (left <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left * 1000) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n <= 0) return line.empty() ? std::nullopt : std::optional<std::string>(line);
    if (c == '\n') return line;
    line += c;
  }
}

std::string ReadAll(int fd, double timeout_s) {
  std::string out;
  while (auto line = ReadLine(fd, timeout_s)) out += *line + "\n";
  return out;
}

CpuTimes ReadCpuTimes() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  std::uint64_t user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                steal = 0;
  in >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
  CpuTimes t;
  t.busy_ns = TicksToNs(user + nice + sys + irq + softirq);
  t.total_ns = t.busy_ns + TicksToNs(idle + iowait + steal);
  return t;
}

std::uint64_t ProcessCpuNs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close_paren = text.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream rest(text.substr(close_paren + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  // Fields after the command: state(3) ... utime(14) stime(15).
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return TicksToNs(utime + stime);
}

std::uint64_t StatusKib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10);
  return 0;
}

std::vector<std::uint32_t> BpfProgIdsOf(pid_t pid) {
  std::vector<std::uint32_t> ids;
  for (const char* kind : {"anon_inode:bpf-prog", "anon_inode:bpf_link"}) {
    for (const std::string& fd : AnonFds(pid, kind)) {
      std::uint64_t id = Field(FdInfo(pid, fd.c_str()), "prog_id");
      if (id && std::find(ids.begin(), ids.end(), id) == ids.end())
        ids.push_back(static_cast<std::uint32_t>(id));
    }
  }
  return ids;
}

std::vector<MapFdInfo> BpfMapsOf(pid_t pid) {
  std::vector<MapFdInfo> maps;
  for (const std::string& fd : AnonFds(pid, "anon_inode:bpf-map")) {
    std::string info = FdInfo(pid, fd.c_str());
    MapFdInfo m;
    m.id = static_cast<std::uint32_t>(Field(info, "map_id"));
    m.type = static_cast<std::uint32_t>(Field(info, "map_type"));
    m.value_size = static_cast<std::uint32_t>(Field(info, "value_size"));
    m.max_entries = static_cast<std::uint32_t>(Field(info, "max_entries"));
    m.memlock = Field(info, "memlock");
    bool seen = false;
    for (const MapFdInfo& x : maps) seen = seen || x.id == m.id;
    if (!seen) maps.push_back(m);
  }
  return maps;
}

ProgHandle ProgHandle::FromId(std::uint32_t id) {
  ProgHandle h;
  h.fd_ = bpf_prog_get_fd_by_id(id);
  if (h.fd_ < 0) throw std::runtime_error("bpf_prog_get_fd_by_id(" + std::to_string(id) + ") failed");
  h.name_ = h.Read().name;
  return h;
}

ProgHandle ProgHandle::FromFd(int fd) {
  ProgHandle h;
  h.fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (h.fd_ < 0) throw std::runtime_error("dup of a BPF program fd failed");
  h.name_ = h.Read().name;
  return h;
}

ProgHandle::~ProgHandle() {
  if (fd_ >= 0) close(fd_);
}

ProgStats ProgHandle::Read() const {
  bpf_prog_info info{};
  __u32 len = sizeof info;
  ProgStats s;
  if (bpf_obj_get_info_by_fd(fd_, &info, &len) != 0) return s;
  s.name = info.name;
  s.run_time_ns = info.run_time_ns;
  s.run_cnt = info.run_cnt;
  return s;
}

BpfStatsEnabled::BpfStatsEnabled() {
  fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd_ < 0)
    throw std::runtime_error(std::string("BPF_ENABLE_STATS failed: ") + std::strerror(errno));
}

BpfStatsEnabled::~BpfStatsEnabled() {
  if (fd_ >= 0) close(fd_);
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  double pos = p * static_cast<double>(v.size() - 1);
  auto lo = static_cast<std::size_t>(std::floor(pos));
  auto hi = static_cast<std::size_t>(std::ceil(pos));
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

double Min(const std::vector<double>& v) {
  return v.empty() ? NAN : *std::min_element(v.begin(), v.end());
}
double Max(const std::vector<double>& v) {
  return v.empty() ? NAN : *std::max_element(v.begin(), v.end());
}

std::string Fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string NowUtc() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

std::string KernelRelease() {
  utsname u{};
  return uname(&u) == 0 ? u.release : "unknown";
}

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace caretta::bench
