// LIST pages and watch event framing, through a real Reflector talking HTTP to a
// scripted API server on loopback: the pages answer the reflector's paged LIST
// (metadata.continue decides whether it asks for the next one), then the watch
// chunks are sent as HTTP chunks of one watch stream (a chunk may end anywhere
// inside an event line), then the stream ends. The next request ends the run.
// Input: one byte choosing the watched resource, then sections separated by NUL
// bytes; a section starting with 'L' is a LIST page, with 'W' a watch chunk.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "k8s/api_client.h"
#include "k8s/cluster_store.h"
#include "k8s/reflector.h"
#include "k8s/resources.h"
#include "spdlog/spdlog.h"

using namespace caretta;

namespace {

struct Script {
  std::vector<std::string> pages;
  std::vector<std::string> watch_chunks;
};

// Answers one request per connection (Connection: close) from the current script.
class ScriptedApiServer {
 public:
  ScriptedApiServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) abort();
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      abort();
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedApiServer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    thread_.join();
    close(listen_fd_);
  }
  int port() const { return port_; }

  void Start(Script script) {
    std::lock_guard lock(mu_);
    script_ = std::move(script);
    lists_ = watches_ = 0;
    done_ = false;
  }
  // True once the reflector asked for more than the script holds.
  bool WaitDone(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return done_cv_.wait_for(lock, timeout, [this] { return done_; });
  }

 private:
  void Serve() {
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (stop_) return;
      }
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      Answer(fd);
      close(fd);
    }
  }

  static bool SendAll(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  void Answer(int fd) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 2000) <= 0) return;
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      head.append(buf, static_cast<std::size_t>(n));
    }
    const bool watch = head.find("watch=1") != std::string::npos;
    std::vector<std::string> chunks;
    {
      std::lock_guard lock(mu_);
      if (watch && watches_ == 0) {
        chunks = script_.watch_chunks;
      } else if (!watch && lists_ < script_.pages.size()) {
        chunks.push_back(script_.pages[lists_]);
      } else {
        done_ = true;
        done_cv_.notify_all();
        SendAll(fd,
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n");
        return;
      }
      (watch ? watches_ : lists_)++;
    }
    std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    for (const std::string& chunk : chunks) {
      if (chunk.empty()) continue;  // an empty chunk would end the body
      char size[32];
      snprintf(size, sizeof size, "%zx\r\n", chunk.size());
      out += size;
      out += chunk;
      out += "\r\n";
    }
    out += "0\r\n\r\n";
    SendAll(fd, out);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool stop_ = false;
  Script script_;
  std::size_t lists_ = 0, watches_ = 0;
  bool done_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // malformed input is logged; not needed here
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<k8s::WatchedResource> resources = k8s::WatchedResources();
  static ScriptedApiServer server;
  static const auto client = [] {
    k8s::ClusterConfig config;
    config.server = "http://127.0.0.1:" + std::to_string(server.port());
    config.source = "fuzz";
    return std::make_shared<k8s::ApiClient>(config);
  }();
  if (size < 1) return 0;
  const k8s::WatchedResource& resource = resources[data[0] % resources.size()];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  Script script;
  std::size_t start = 0;
  while (start <= input.size() && script.pages.size() < 4 && script.watch_chunks.size() < 64) {
    std::size_t nul = input.find('\0', start);
    if (nul == std::string_view::npos) nul = input.size();
    std::string_view section = input.substr(start, nul - start);
    if (section.starts_with('L')) script.pages.emplace_back(section.substr(1));
    if (section.starts_with('W')) script.watch_chunks.emplace_back(section.substr(1));
    start = nul + 1;
  }
  if (script.pages.empty()) return 0;
  server.Start(std::move(script));

  k8s::ClusterStore store;
  k8s::ReflectorOptions options;
  options.page_size = 2;
  options.backoff.initial = options.backoff.max = std::chrono::milliseconds(1);
  {
    k8s::Reflector reflector(client, resource, &store, options);
    if (!server.WaitDone(std::chrono::seconds(5))) abort();  // the reflector stalled
  }
  store.Read([](const k8s::ClusterContents& contents) { return contents.pods.size(); });
  return 0;
}
