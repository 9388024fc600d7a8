// Reverse lookups against one chosen DNS server with c-ares: getnameinfo() can only
// ask the system resolver, and the demo's outside world has its own server.
#include <ares.h>
#include <netdb.h>
#include <poll.h>

#include <cerrno>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "resolve/dns_resolver.h"

namespace caretta::resolve {
namespace {

struct Answer {
  bool done = false;
  std::optional<std::string> name;
};

void OnHost(void* arg, int status, int, hostent* host) {
  auto* answer = static_cast<Answer*>(arg);
  answer->done = true;
  if (status == ARES_SUCCESS && host && host->h_name) answer->name = host->h_name;
}

// One c-ares library init per process lifetime of any lookup (ares_library_init is
// reference counted).
class AresLibrary {
 public:
  AresLibrary() {
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
      throw std::runtime_error("c-ares initialisation failed");
  }
  ~AresLibrary() { ares_library_cleanup(); }
};

class ServerLookup {
 public:
  ServerLookup(const std::string& server, std::chrono::milliseconds timeout) : timeout_(timeout) {
    ares_options options{};
    options.timeout = static_cast<int>(timeout.count());
    options.tries = 1;
    options.flags = ARES_FLAG_NOSEARCH;
    if (ares_init_options(&channel_, &options,
                          ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS) != ARES_SUCCESS)
      throw std::runtime_error("c-ares channel initialisation failed");
    if (ares_set_servers_ports_csv(channel_, server.c_str()) != ARES_SUCCESS) {
      ares_destroy(channel_);
      throw std::invalid_argument("DNS server '" + server + "' is not IP, IP:PORT or [IPv6]:PORT");
    }
  }
  ~ServerLookup() { ares_destroy(channel_); }

  std::optional<std::string> operator()(const common::IpAddress& ip) {
    std::lock_guard lock(mu_);  // a channel serves one caller at a time
    Answer answer;
    ares_gethostbyaddr(channel_, ip.bytes().data(), ip.is_v4() ? 4 : 16,
                       ip.is_v4() ? AF_INET : AF_INET6, OnHost, &answer);
    auto deadline = std::chrono::steady_clock::now() + timeout_ * 2;
    while (!answer.done && std::chrono::steady_clock::now() < deadline) {
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      int bits = ares_getsock(channel_, socks, ARES_GETSOCK_MAXNUM);
      std::vector<pollfd> fds;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
        if (events) fds.push_back(pollfd{socks[i], events, 0});
      }
      if (fds.empty()) break;
      int n = poll(fds.data(), fds.size(), 100);
      if (n < 0 && errno != EINTR) break;
      for (const pollfd& p : fds)
        ares_process_fd(channel_, (p.revents & POLLIN) ? p.fd : ARES_SOCKET_BAD,
                        (p.revents & POLLOUT) ? p.fd : ARES_SOCKET_BAD);
      if (n == 0) ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
    }
    if (!answer.done) ares_cancel(channel_);  // runs the callback with ARES_ECANCELLED
    return answer.name;
  }

 private:
  AresLibrary library_;
  ares_channel channel_ = nullptr;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
};

}  // namespace

DnsResolver::Lookup ServerReverseLookup(const std::string& server,
                                        std::chrono::milliseconds timeout) {
  auto lookup = std::make_shared<ServerLookup>(server, timeout);
  return [lookup](const common::IpAddress& ip) { return (*lookup)(ip); };
}

}  // namespace caretta::resolve
