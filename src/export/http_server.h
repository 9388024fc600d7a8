// The agent's HTTP face: metrics, health, graph API and the embedded web map.
// Instruments itself (requests by path and code; unknown paths fold into "other"
// so hostile clients cannot inflate label cardinality).
//
// Built on GNU libmicrohttpd, event-driven (epoll, a few threads), so slow or
// idle clients never hold up others. Everything a client controls is bounded:
// connections (excess ones are closed at once, never queued), the request head
// (memory per connection: past it MHD answers 431, or 414 for the request line),
// the time to send the head and to take the answer, the URL length. Only GET and
// HEAD; paths match exactly.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

struct MHD_Daemon;
struct MHD_Connection;

namespace caretta::exporter {

struct HttpHandlers {
  std::function<std::string()> metrics;
  // (HTTP status, JSON body)
  std::function<std::pair<int, std::string>(double window_seconds)> graph;
  std::function<bool()> ready;
  // Optional, used instead of `metrics` when set: makes a source of the text that
  // appends its next piece to the string it is given and returns false once it
  // has nothing more. A piece is asked for only when the client has taken the
  // previous one, so a scrape holds one piece, never the whole text (for
  // exporter::MetricsStream). An exception ends the answer cut short.
  std::function<std::function<bool(std::string&)>()> metrics_stream = {};  // last: callers may leave it out
};

struct HttpLimits {
  // Concurrent connections; further ones are accepted and closed at once. Lowered
  // at Start() so that `fd_reserve` descriptors stay free for the rest of the agent.
  unsigned max_connections = 2048;
  unsigned fd_reserve = 256;
  unsigned threads = 4;  // epoll threads; a long render holds up only its own
  // From a connection's start (or the end of its previous request) to the end of
  // the request head, whatever the client's pace: slowloris gets no more.
  std::chrono::milliseconds head_deadline{5000};
  // From the end of the head to the last byte of the answer (a slow reader).
  std::chrono::milliseconds response_deadline{60000};
  unsigned idle_timeout_seconds = 10;  // nothing sent or received for this long
  // Per connection: request head, header records and write buffer. A head bigger
  // than this gets 431 (414 if the request line alone does not fit). It also
  // bounds the header count: each header costs its bytes plus a ~50-byte record
  // (measured at 16 KiB: 228 `A: b` headers pass, more get 431; one header of
  // 7,000 bytes passes). MHD 0.9.75 quirk, measured: a head that ends just where
  // the pool is full (a header of 8,000-8,500 or 16,000-16,500 bytes) is closed
  // with no answer, as MHD has no room left to build one. Memory stays bounded.
  std::size_t connection_memory = 16 * 1024;
  std::size_t max_url = 2048;  // decoded path; longer gets 414
  // Rendered /metrics and /api/graph bodies alive at once (being rendered or
  // sent); more get 503 + Retry-After. Bounds memory against slow readers.
  unsigned max_bodies_in_flight = 8;
};

class HttpServer {
 public:
  HttpServer(std::string address, std::uint16_t port, std::string metrics_path,
             HttpHandlers handlers, HttpLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on background threads. Throws std::runtime_error
  // naming the real cause (port in use, not an address of this host, ...), or
  // std::invalid_argument for a metrics path that is not an absolute path of its
  // own. Call once.
  void Start();
  // Prompt and idempotent; safe before Start(), after a failed Start(), twice.
  void Stop();
  // The bound port (the chosen one when constructed with 0); set before Start()
  // returns and constant after, so any thread may read it.
  std::uint16_t port() const { return port_; }
  // The connection limit in force (after Start(): lowered to the fds available).
  unsigned connection_limit() const { return limits_.max_connections; }
  // "path code" → requests answered by a handler.
  std::vector<std::pair<std::string, std::uint64_t>> RequestCounts() const;
  // reason → connections closed by the server: "limit" (over the connection
  // limit), "head_deadline", "response_deadline", "keepalive_idle" (no new
  // request within the head deadline after one was answered), "bad_head" (a request line
  // but no usable head: MHD answered 431 or 400, or the client went away).
  std::vector<std::pair<std::string, std::uint64_t>> ConnectionDrops() const;

 private:
  struct Connection {
    int fd = -1;
    std::chrono::steady_clock::time_point deadline;
    bool in_head = true;        // else: answering
    bool request_line = false;  // the head's first line has come
    bool kept_alive = false;    // a request was answered before this one
    bool closing = false;
  };
  void Count(const std::string& path, int status);
  void CountDrop(const char* reason);
  void Watch();  // closes connections past their deadline

  struct Callbacks;  // libmicrohttpd callbacks (cls is this server)
  friend struct Callbacks;

  std::string address_;
  std::uint16_t port_;
  std::string metrics_path_;
  HttpHandlers handlers_;
  HttpLimits limits_;

  std::mutex lifecycle_mu_;  // Start/Stop
  bool started_ = false;
  bool stopped_ = false;
  MHD_Daemon* daemon_ = nullptr;

  // Open connections, for the limit and the deadlines; the watchdog closes one
  // with shutdown() under this lock, before MHD's close notice can free its fd.
  std::mutex connections_mu_;
  std::unordered_map<MHD_Connection*, Connection> connections_;
  std::condition_variable watch_cv_;
  bool watch_stop_ = false;
  std::thread watchdog_;

  std::mutex log_mu_;  // MHD's messages while starting explain a failure
  bool capture_log_ = false;
  std::string start_log_;

  std::atomic<unsigned> bodies_in_flight_{0};

  mutable std::mutex counts_mu_;
  std::map<std::string, std::uint64_t> counts_;
  std::map<std::string, std::uint64_t> drops_;
};

}  // namespace caretta::exporter
