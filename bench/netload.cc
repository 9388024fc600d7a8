// Load generator for the benchmarks: an echo server, request/response clients and a
// connection holder. Every loop is bounded by a count and a time limit; the
// addresses are the benchmark's own network namespaces (or loopback).
//
//   caretta_netload serve --addr IP[,IP...] --port P [--ports K] [--max-seconds S]
//   caretta_netload rr    --addr IP --port P [--seconds S] [--msg B] [--max-tx N]
//   caretta_netload crr   --addr IP --port P [--seconds S] [--msg B] [--max-tx N]
//   (rr and crr also take --counter-file PATH: an existing file of at least 8 bytes
//   that gets the running transaction count, a native uint64, after every
//   transaction, so a benchmark can read rates over windows shorter than a run)
//   caretta_netload hold  --server-ns PATH --client-ns PATH --addr IP[,IP...] --port P
//                         [--ports K] --conns N [--max-seconds S] [--msg B]
//
// rr: one connection, B-byte request, B-byte response, repeated.
// crr: connect, B-byte request, B-byte response, close, repeated.
// Clients print "transactions=N seconds=S tps=R errors=E connect_errors=C" on stdout:
// E counts every failed transaction, C those that failed before any byte was sent, so
// the bytes moved are exactly N x B each way when E == C.
// A run ends only between transactions (never mid-way) once S seconds or N have passed.
// hold: opens N connections from the client namespace to the server namespace (both
// ends live in this process), optionally exchanges one B-byte request and B-byte
// response on each (--msg, default 0: nothing), prints "ready N", then waits for
// stdin to close.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "netload: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

struct Args {
  std::string mode;
  std::map<std::string, std::string> kv;
  std::string Get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  double Num(const std::string& k, double def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::strtod(it->second.c_str(), nullptr);
  }
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

sockaddr_in Addr(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) {
    std::fprintf(stderr, "netload: bad IPv4 address %s\n", ip.c_str());
    std::exit(2);
  }
  return a;
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int Listen(const std::string& ip, int port, bool nonblock) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) Die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = Addr(ip, port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) Die("bind " + ip);
  if (listen(fd, 65535) != 0) Die("listen");
  return fd;
}

bool WriteAll(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool ReadExact(int fd, char* p, std::size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// Single-threaded epoll echo server.
int Serve(const Args& a) {
  std::vector<std::string> ips = Split(a.Get("addr"));
  int port = static_cast<int>(a.Num("port", 0));
  int ports = static_cast<int>(a.Num("ports", 1));
  double max_seconds = a.Num("max-seconds", 900);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> listeners;
  for (const std::string& ip : ips)
    for (int i = 0; i < ports; ++i) {
      int fd = Listen(ip, port + i, true);
      listeners.push_back(fd);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = (1ull << 32) | static_cast<std::uint32_t>(fd);
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
  std::printf("listening\n");
  std::fflush(stdout);
  double end = Now() + max_seconds;
  std::vector<epoll_event> events(256);
  char buf[65536];
  while (Now() < end) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 500);
    if (n < 0 && errno != EINTR) Die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      if (events[i].data.u64 >> 32) {
        for (int k = 0; k < 64; ++k) {
          int c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          NoDelay(c);
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = static_cast<std::uint32_t>(c);
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r > 0) {
        // Echo; a short write of a small response on a fresh socket means a peer
        // that stopped reading: drop it.
        ssize_t w = send(fd, buf, static_cast<std::size_t>(r), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w == r) continue;
      } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        continue;
      }
      close(fd);  // EOF or error (closing removes it from the epoll set)
    }
  }
  return 0;
}

int Client(const Args& a, bool crr) {
  std::string ip = a.Get("addr");
  sockaddr_in dst = Addr(ip, static_cast<int>(a.Num("port", 0)));
  double seconds = a.Num("seconds", 3);
  auto max_tx = static_cast<long long>(a.Num("max-tx", 50'000'000));
  auto msg = static_cast<std::size_t>(a.Num("msg", 64));
  std::vector<char> req(msg, 'q'), resp(msg);
  long long tx = 0, errors = 0, connect_errors = 0;
  std::atomic<std::uint64_t>* shared_count = nullptr;
  if (std::string path = a.Get("counter-file"); !path.empty()) {
    int cfd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (cfd < 0) Die("open " + path);
    void* m = mmap(nullptr, sizeof(std::uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
    if (m == MAP_FAILED) Die("mmap " + path);
    close(cfd);
    shared_count = static_cast<std::atomic<std::uint64_t>*>(m);
  }
  double start = Now(), end = start + seconds;
  double now = start;
  int fd = -1;
  while (tx < max_tx && now < end && errors < 1000) {
    if (fd < 0) {
      fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) Die("socket");
      NoDelay(fd);
      if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
        ++errors;
        ++connect_errors;
        close(fd);
        fd = -1;
        now = Now();
        continue;
      }
    }
    if (!WriteAll(fd, req.data(), msg) || !ReadExact(fd, resp.data(), msg)) {
      ++errors;
      close(fd);
      fd = -1;
    } else {
      ++tx;
      if (shared_count)
        shared_count->store(static_cast<std::uint64_t>(tx), std::memory_order_relaxed);
      if (crr) {
        close(fd);
        fd = -1;
      }
    }
    now = Now();
  }
  if (fd >= 0) close(fd);
  double took = Now() - start;
  std::printf("transactions=%lld seconds=%.6f tps=%.1f errors=%lld connect_errors=%lld\n", tx, took,
              static_cast<double>(tx) / took, errors, connect_errors);
  return errors >= 1000 ? 1 : 0;
}

void EnterNetns(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die("open " + path);
  if (setns(fd, CLONE_NEWNET) != 0) Die("setns " + path);
  close(fd);
}

int Hold(const Args& a) {
  std::vector<std::string> ips = Split(a.Get("addr"));
  int port = static_cast<int>(a.Num("port", 0));
  int ports = static_cast<int>(a.Num("ports", 1));
  auto conns = static_cast<long>(a.Num("conns", 0));
  double max_seconds = a.Num("max-seconds", 600);
  auto msg = static_cast<std::size_t>(a.Num("msg", 0));
  double deadline = Now() + max_seconds;
  if (msg > 4096) {
    std::fprintf(stderr, "netload hold: --msg is at most 4096 (a few bytes per connection)\n");
    return 2;
  }
  if (ips.empty() || conns <= 0 || conns > 500'000) {
    std::fprintf(stderr, "netload hold: need --addr and 0 < --conns <= 500000\n");
    return 2;
  }
  // Both ends of every connection are fds of this process: raise the soft limit as far
  // as the hard limit allows (run several holders for more connections).
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  auto need = static_cast<rlim_t>(2 * conns + 64);
  if (need > rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      Die("RLIMIT_NOFILE hard limit too low for " + std::to_string(conns) +
          " connections (start more holders with fewer --conns each)");
  } else if (need > rl.rlim_cur) {
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) Die("setrlimit(RLIMIT_NOFILE)");
  }

  // Listeners belong to the server namespace, clients to the client namespace: a
  // socket lives in the namespace of the thread that created it.
  EnterNetns(a.Get("server-ns"));
  struct Target {
    int listener;
    sockaddr_in addr;
  };
  std::vector<Target> targets;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (const std::string& ip : ips)
    for (int i = 0; i < ports; ++i) {
      int fd = Listen(ip, port + i, true);
      targets.push_back({fd, Addr(ip, port + i)});
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
  std::vector<int> accepted;
  accepted.reserve(static_cast<std::size_t>(conns));
  std::atomic<long> accepted_count{0};
  std::atomic<bool> stop{false};
  std::thread acceptor([&] {
    epoll_event events[64];
    while (!stop && accepted_count < conns && Now() < deadline) {
      int n = epoll_wait(ep, events, 64, 100);
      for (int i = 0; i < n; ++i)
        for (;;) {
          int c = accept4(events[i].data.fd, nullptr, nullptr, SOCK_CLOEXEC);
          if (c < 0) break;
          accepted.push_back(c);
          ++accepted_count;
        }
    }
  });

  EnterNetns(a.Get("client-ns"));
  std::vector<int> clients;
  clients.reserve(static_cast<std::size_t>(conns));
  for (long i = 0; i < conns && Now() < deadline; ++i) {
    const Target& t = targets[static_cast<std::size_t>(i) % targets.size()];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) Die("socket (client " + std::to_string(i) + ")");
    if (connect(fd, reinterpret_cast<const sockaddr*>(&t.addr), sizeof t.addr) != 0)
      Die("connect (client " + std::to_string(i) + ")");
    clients.push_back(fd);
  }
  while (accepted_count < conns && Now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop = true;
  acceptor.join();
  if (accepted_count < conns) {
    std::fprintf(stderr, "netload hold: only %ld of %ld connections accepted in time\n",
                 accepted_count.load(), conns);
    return 1;
  }
  // One exchange per connection (long-lived connections that carry a few bytes), each
  // read bounded by a receive timeout. Buffers hold a small message, so all requests
  // go out first, then every server end answers, then every client reads.
  if (msg > 0) {
    timeval timeout{10, 0};
    std::vector<char> out(msg, 'h'), in(msg);
    for (int fd : clients) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    for (int fd : accepted) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    for (int fd : clients)
      if (!WriteAll(fd, out.data(), msg)) Die("hold: request");
    for (int fd : accepted)
      if (!ReadExact(fd, in.data(), msg) || !WriteAll(fd, out.data(), msg)) Die("hold: response");
    for (int fd : clients)
      if (!ReadExact(fd, in.data(), msg)) Die("hold: reading the response");
  }
  std::printf("ready %ld\n", conns);
  std::fflush(stdout);
  // Hold until stdin closes (the benchmark is done) or the time limit.
  while (Now() < deadline) {
    pollfd p{0, POLLIN, 0};
    int r = poll(&p, 1, 200);
    if (r > 0) {
      char c;
      if (read(0, &c, 1) <= 0) break;
    }
  }
  // Abortive close: no FIN/TIME_WAIT storm for hundreds of thousands of sockets.
  linger lg{1, 0};
  for (int fd : clients) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: caretta_netload serve|rr|crr|hold --key value ...\n");
    return 2;
  }
  Args a;
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) {
      std::fprintf(stderr, "netload: unexpected argument %s\n", argv[i]);
      return 2;
    }
    a.kv[k.substr(2)] = argv[i + 1];
  }
  if (a.mode == "serve") return Serve(a);
  if (a.mode == "rr") return Client(a, false);
  if (a.mode == "crr") return Client(a, true);
  if (a.mode == "hold") return Hold(a);
  std::fprintf(stderr, "netload: unknown mode %s\n", a.mode.c_str());
  return 2;
}
