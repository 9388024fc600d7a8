#include "export/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <tuple>

#include "common/fd_limit.h"
#include "spdlog/spdlog.h"
#ifdef CARETTA_HAVE_UI
#include "ui_assets.h"
#endif

namespace caretta::exporter {
namespace {

constexpr double kDefaultWindow = 300;
constexpr double kMaxWindow = 86400;
constexpr int kListenBacklog = 1024;
constexpr std::string_view kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

// Parses ?window=SECONDS; nullopt when malformed or out of range.
std::optional<double> ParseWindow(std::string_view text) {
  if (text.empty()) return kDefaultWindow;
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !(v > 0) || v > kMaxWindow)
    return std::nullopt;
  return v;
}

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) close(fd_);
  }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string HostPort(const std::string& address, std::uint16_t port) {
  return address.find(':') != std::string::npos ? "[" + address + "]:" + std::to_string(port)
                                                : address + ":" + std::to_string(port);
}

// A listening TCP socket on address:port (numeric IPv4 or IPv6; port 0 picks one).
// SO_REUSEADDR only: SO_REUSEPORT would let a second agent silently share the port.
UniqueFd Listen(const std::string& address, std::uint16_t* port) {
  std::string host = address;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(*port);
    length = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(*port);
    length = sizeof *v6;
  } else {
    throw std::runtime_error("HTTP listen address \"" + address +
                             "\" is not an address of this host (want a numeric IPv4 or "
                             "IPv6 address, e.g. 0.0.0.0 or ::)");
  }
  auto fail = [&](const char* what, int err) {
    return std::runtime_error(std::string("HTTP server: ") + what + " " + HostPort(host, *port) +
                              ": " + std::strerror(err));
  };
  UniqueFd fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw fail("cannot create a socket for", errno);
  int on = 1, off = 0;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0)
    throw fail("cannot set SO_REUSEADDR on", errno);
  // "::" serves IPv4 too, whatever net.ipv6.bindv6only says.
  if (family == AF_INET6 && setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0)
    throw fail("cannot clear IPV6_V6ONLY on", errno);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    int err = errno;
    if (err == EADDRINUSE)
      throw std::runtime_error("HTTP server: port " + std::to_string(*port) + " on " + host +
                               " is already in use (another caretta?)");
    if (err == EADDRNOTAVAIL)
      throw std::runtime_error("HTTP server: " + host + " is not an address of this host");
    throw fail("cannot bind", err);
  }
  if (listen(fd.get(), kListenBacklog) != 0) throw fail("cannot listen on", errno);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &length) != 0)
    throw fail("cannot read the port of", errno);
  *port = ntohs(family == AF_INET ? v4->sin_port : v6->sin6_port);
  return fd;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A rendered body, freed by MHD once sent; holds one of the server's slots for
// bodies in flight while it lives.
struct OwnedBody {
  std::string text;
  std::atomic<unsigned>* in_flight = nullptr;
  OwnedBody() = default;
  OwnedBody(const OwnedBody&) = delete;
  OwnedBody& operator=(const OwnedBody&) = delete;
  ~OwnedBody() {
    if (in_flight) in_flight->fetch_sub(1);
  }
};

// A body rendered piece by piece as the client takes it; MHD frees it at the end.
struct StreamBody {
  std::function<bool(std::string&)> next;
  std::string piece;
  std::size_t offset = 0;           // of `piece` already sent
  std::unique_ptr<OwnedBody> slot;  // the in-flight slot (its text stays empty)
};

ssize_t ReadStream(void* cls, std::uint64_t, char* buffer, std::size_t max) {
  auto* body = static_cast<StreamBody*>(cls);
  try {
    while (body->offset == body->piece.size()) {
      body->piece.clear();
      body->offset = 0;
      if (!body->next(body->piece) && body->piece.empty()) return MHD_CONTENT_READER_END_OF_STREAM;
    }
  } catch (const std::exception& e) {
    spdlog::warn("http: metrics stream failed: {}", e.what());
    return MHD_CONTENT_READER_END_WITH_ERROR;  // the client sees a cut answer
  }
  const std::size_t n = std::min(max, body->piece.size() - body->offset);
  std::memcpy(buffer, body->piece.data() + body->offset, n);
  body->offset += n;
  return static_cast<ssize_t>(n);
}

void FreeStream(void* cls) { delete static_cast<StreamBody*>(cls); }

// An answer ready to queue: a body that outlives the request (static text, an
// embedded asset), one the response owns and frees once sent, or a stream.
struct Reply {
  int status = 200;
  std::string_view content_type = "text/plain; charset=utf-8";
  std::string_view static_body;
  std::unique_ptr<OwnedBody> owned_body;
  std::unique_ptr<StreamBody> stream;
  bool allow_header = false;
  bool retry_after = false;
};

Reply Text(int status, std::string_view body) {
  Reply r;
  r.status = status;
  r.static_body = body;
  return r;
}

Reply Owned(int status, std::string_view content_type, std::unique_ptr<OwnedBody> body) {
  Reply r;
  r.status = status;
  r.content_type = content_type;
  r.owned_body = std::move(body);
  return r;
}

void FreeOwnedBody(void* body) { delete static_cast<OwnedBody*>(body); }

MHD_Result Queue(MHD_Connection* connection, Reply reply) {
  MHD_Response* response = nullptr;
  if (reply.stream) {
    StreamBody* body = reply.stream.get();
    response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, &ReadStream, body,
                                                 &FreeStream);
    if (response) reply.stream.release();
  } else if (reply.owned_body) {
    OwnedBody* body = reply.owned_body.get();
    // No copy: MHD sends from the string and frees it when the response goes.
    response = MHD_create_response_from_buffer_with_free_callback_cls(
        body->text.size(), body->text.data(), &FreeOwnedBody, body);
    if (response) reply.owned_body.release();
  } else {
    response = MHD_create_response_from_buffer(reply.static_body.size(),
                                               const_cast<char*>(reply.static_body.data()),
                                               MHD_RESPMEM_PERSISTENT);
  }
  if (!response) return MHD_NO;  // out of memory: MHD closes the connection
  std::string content_type(reply.content_type);
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type.c_str());
  MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
  if (reply.allow_header) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  if (reply.retry_after) MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, "1");
  MHD_Result queued = MHD_queue_response(connection, static_cast<unsigned>(reply.status), response);
  MHD_destroy_response(response);
  return queued;
}

}  // namespace

struct HttpServer::Callbacks {
  static MHD_Result OnAccept(void* cls, const sockaddr*, socklen_t) {
    auto* self = static_cast<HttpServer*>(cls);
    {
      std::lock_guard lock(self->connections_mu_);
      if (self->connections_.size() < self->limits_.max_connections) return MHD_YES;
    }
    self->CountDrop("limit");
    return MHD_NO;  // MHD closes it at once
  }

  static void OnConnection(void* cls, MHD_Connection* connection, void**,
                           MHD_ConnectionNotificationCode event) {
    auto* self = static_cast<HttpServer*>(cls);
    std::lock_guard lock(self->connections_mu_);
    if (event == MHD_CONNECTION_NOTIFY_CLOSED) {
      self->connections_.erase(connection);  // before MHD closes the fd
      return;
    }
    const MHD_ConnectionInfo* info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    Connection c;
    c.fd = info ? info->connect_fd : -1;
    c.deadline = std::chrono::steady_clock::now() + self->limits_.head_deadline;
    self->connections_[connection] = c;
  }

  // The request line is parsed (the head is still coming).
  static void* OnRequestLine(void* cls, const char*, MHD_Connection* connection) {
    auto* self = static_cast<HttpServer*>(cls);
    std::lock_guard lock(self->connections_mu_);
    if (auto it = self->connections_.find(connection); it != self->connections_.end())
      it->second.request_line = true;
    return nullptr;  // becomes the request context: OnRequest's first call wants null
  }

  // A request is over (answered or cut): a kept-alive connection gets a fresh
  // head deadline for its next request.
  static void OnRequestDone(void* cls, MHD_Connection* connection, void**,
                            MHD_RequestTerminationCode) {
    auto* self = static_cast<HttpServer*>(cls);
    std::lock_guard lock(self->connections_mu_);
    auto it = self->connections_.find(connection);
    if (it == self->connections_.end()) return;
    // Over before the head was complete (MHD answered 431/400, or the client
    // left), unless our deadline cut it.
    if (it->second.in_head && it->second.request_line && !it->second.closing)
      self->CountDrop("bad_head");
    it->second.in_head = true;
    it->second.request_line = false;
    it->second.kept_alive = true;
    it->second.deadline = std::chrono::steady_clock::now() + self->limits_.head_deadline;
  }

  static MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url,
                              const char* method, const char*, const char*,
                              std::size_t* upload_data_size, void** request_context) {
    auto* self = static_cast<HttpServer*>(cls);
    static char head_done, answered;  // request states, by address
    if (*request_context == &answered || (*request_context == &head_done && *upload_data_size)) {
      *upload_data_size = 0;  // a body nobody asked for: skip it
      return MHD_YES;
    }
    const std::string_view verb(method ? method : "");
    if (*request_context == nullptr) {
      {
        std::lock_guard lock(self->connections_mu_);
        auto it = self->connections_.find(connection);
        if (it != self->connections_.end()) {
          it->second.in_head = false;
          it->second.deadline = std::chrono::steady_clock::now() + self->limits_.response_deadline;
        }
      }
      // MHD 0.9.75 closes the connection after an answer queued in this first
      // call; fine for requests we refuse (their body is never read), but a plain
      // GET or HEAD is answered in the next call, which keeps the connection alive.
      const bool has_body =
          MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_TRANSFER_ENCODING) != nullptr ||
          [&] {
            const char* length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
            return length != nullptr && std::string_view(length) != "0";
          }();
      if ((verb == MHD_HTTP_METHOD_GET || verb == MHD_HTTP_METHOD_HEAD) && !has_body) {
        *request_context = &head_done;
        return MHD_YES;
      }
    }
    *request_context = &answered;
    // MHD decodes the path (our Unescape keeps %00 literal, so it has no NUL).
    const std::string_view path(url ? url : "");
    std::string label = "other";
    Reply reply;
    try {
      reply = Route(self, connection, path, verb, &label);
    } catch (const std::exception& e) {
      spdlog::warn("http: {} failed: {}", label, e.what());
      reply = Text(500, "internal error\n");
    }
    self->Count(label, reply.status);
    return Queue(connection, std::move(reply));
  }

  // A body for /metrics or /api/graph, or null when `max_bodies_in_flight` are
  // already held (by slow readers, say): each can be tens of MB.
  static std::unique_ptr<OwnedBody> TakeBodySlot(HttpServer* self) {
    if (self->bodies_in_flight_.fetch_add(1) >= self->limits_.max_bodies_in_flight) {
      self->bodies_in_flight_.fetch_sub(1);
      return nullptr;
    }
    auto body = std::make_unique<OwnedBody>();
    body->in_flight = &self->bodies_in_flight_;
    return body;
  }

  static Reply Busy() {
    Reply r = Text(503, "too many answers in flight; retry\n");
    r.retry_after = true;
    return r;
  }

  static Reply Route(HttpServer* self, MHD_Connection* connection, std::string_view path,
                     std::string_view method, std::string* label) {
    static constexpr std::string_view kFixed[] = {"/healthz", "/readyz", "/api/graph"};
    bool known = path == self->metrics_path_;
    for (std::string_view k : kFixed) known = known || path == k;
#ifdef CARETTA_HAVE_UI
    const caretta::ui::Asset* asset = known ? nullptr : caretta::ui::FindAsset(path);
    known = known || asset != nullptr;
#endif
    if (known) *label = std::string(path);
    if (path.size() > self->limits_.max_url) return Text(414, "URI too long\n");
    if (method != MHD_HTTP_METHOD_GET && method != MHD_HTTP_METHOD_HEAD) {
      Reply r = Text(405, "only GET and HEAD\n");
      r.allow_header = true;
      return r;
    }
    if (path == self->metrics_path_) {
      auto body = TakeBodySlot(self);
      if (!body) return Busy();
      if (self->handlers_.metrics_stream) {
        Reply r;
        r.content_type = kMetricsType;
        r.stream = std::make_unique<StreamBody>();
        r.stream->next = self->handlers_.metrics_stream();
        r.stream->slot = std::move(body);
        return r;
      }
      body->text = self->handlers_.metrics();
      return Owned(200, kMetricsType, std::move(body));
    }
    if (path == "/healthz") return Text(200, "ok\n");
    if (path == "/readyz")
      return self->handlers_.ready() ? Text(200, "ready\n") : Text(503, "not ready\n");
    if (path == "/api/graph") {
      const char* window_text =
          MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "window");
      auto window = ParseWindow(window_text ? window_text : "");
      if (!window) {
        Reply r = Text(400, "{\"error\":\"window must be a number of seconds in (0, 86400]\"}");
        r.content_type = "application/json";
        return r;
      }
      auto body = TakeBodySlot(self);
      if (!body) return Busy();
      int status = 0;
      std::tie(status, body->text) = self->handlers_.graph(*window);
      return Owned(status, "application/json", std::move(body));
    }
#ifdef CARETTA_HAVE_UI
    if (asset) {
      Reply r = Text(200, asset->body);
      r.content_type = asset->content_type;
      return r;
    }
#endif
    return Text(404, "not found\n");
  }

  // %HH decoding as MHD's own, except that %00 stays as written: a NUL would cut
  // the path short ("/healthz%00x" must not match "/healthz").
  static std::size_t Unescape(void*, MHD_Connection*, char* text) {
    char* out = text;
    for (const char* in = text; *in; ++in) {
      if (in[0] == '%' && HexDigit(in[1]) >= 0 && HexDigit(in[2]) >= 0) {
        char decoded = static_cast<char>(HexDigit(in[1]) * 16 + HexDigit(in[2]));
        if (decoded != '\0') {
          *out++ = decoded;
          in += 2;
          continue;
        }
      }
      *out++ = *in;
    }
    *out = '\0';
    return static_cast<std::size_t>(out - text);
  }

  static void Log(void* cls, const char* format, va_list args) {
    auto* self = static_cast<HttpServer*>(cls);
    char line[512];
    std::vsnprintf(line, sizeof line, format, args);
    std::string_view text(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    std::lock_guard lock(self->log_mu_);
    if (self->capture_log_) {
      if (!self->start_log_.empty()) self->start_log_ += "; ";
      self->start_log_ += text;
    } else {
      // Per-client trouble (bad heads, resets) is routine under hostile traffic.
      spdlog::debug("http: {}", text);
    }
  }
};

HttpServer::HttpServer(std::string address, std::uint16_t port, std::string metrics_path,
                       HttpHandlers handlers, HttpLimits limits)
    : address_(std::move(address)),
      port_(port),
      metrics_path_(std::move(metrics_path)),
      handlers_(std::move(handlers)),
      limits_(limits) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Count(const std::string& path, int status) {
  std::lock_guard lock(counts_mu_);
  ++counts_[path + " " + std::to_string(status)];
}

void HttpServer::CountDrop(const char* reason) {
  std::lock_guard lock(counts_mu_);
  ++drops_[reason];
}

std::vector<std::pair<std::string, std::uint64_t>> HttpServer::RequestCounts() const {
  std::lock_guard lock(counts_mu_);
  return {counts_.begin(), counts_.end()};
}

std::vector<std::pair<std::string, std::uint64_t>> HttpServer::ConnectionDrops() const {
  std::lock_guard lock(counts_mu_);
  return {drops_.begin(), drops_.end()};
}

void HttpServer::Watch() {
  std::unique_lock lock(connections_mu_);
  while (!watch_stop_) {
    watch_cv_.wait_for(lock, std::chrono::milliseconds(200));
    const auto now = std::chrono::steady_clock::now();
    for (auto& [connection, c] : connections_) {
      if (c.closing || c.fd < 0 || now < c.deadline) continue;
      // shutdown, not close: the fd stays MHD's; its epoll sees the hang-up and
      // closes the connection (and the CLOSED notice needs this lock first).
      CountDrop(!c.in_head                        ? "response_deadline"
                : c.kept_alive && !c.request_line ? "keepalive_idle"
                                                  : "head_deadline");
      if (shutdown(c.fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
        spdlog::debug("http: shutdown of a connection past its deadline: {}", strerror(errno));
      c.closing = true;
    }
  }
}

void HttpServer::Start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (started_ || stopped_) throw std::logic_error("HttpServer::Start called twice or after Stop");
  started_ = true;
  if (metrics_path_.empty() || metrics_path_.front() != '/' || metrics_path_ == "/healthz" ||
      metrics_path_ == "/readyz" || metrics_path_ == "/api/graph")
    throw std::invalid_argument("metrics path \"" + metrics_path_ +
                                "\" must start with / and not be /healthz, /readyz or /api/graph");

  // Every connection costs a descriptor; keep `fd_reserve` for the rest of the agent
  // (BPF iterators, namespaces, API sockets), plus MHD's own (epoll and wake-up fds).
  const common::FileLimit fds = common::CurrentFileLimit();
  const std::uint64_t in_use = common::OpenFileCount() + 3 * limits_.threads + 4;
  const std::uint64_t spare =
      fds.soft > in_use + limits_.fd_reserve ? fds.soft - in_use - limits_.fd_reserve : 0;
  if (spare < limits_.max_connections) {
    spdlog::warn(
        "http: at most {} connections (RLIMIT_NOFILE {} leaves no more beside {} in use and {} "
        "kept for the agent)",
        spare, fds.soft, in_use, limits_.fd_reserve);
    limits_.max_connections = static_cast<unsigned>(spare);
  }
  if (limits_.max_connections < 8)
    throw std::runtime_error("HTTP server: too few file descriptors (RLIMIT_NOFILE " +
                             std::to_string(fds.soft) + "); raise `ulimit -n`");

  UniqueFd listener = Listen(address_, &port_);
  if (limits_.threads == 0) limits_.threads = 1;
  {
    std::lock_guard lock(log_mu_);
    capture_log_ = true;
    start_log_.clear();
  }
  const unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  // MHD's own limit is only a backstop: at it MHD stops accepting and new clients
  // would wait in the backlog; OnAccept closes excess ones at once instead.
  const unsigned mhd_limit = (limits_.max_connections + 1) * limits_.threads;
  auto fn = [](auto* callback) { return reinterpret_cast<intptr_t>(callback); };
  std::vector<MHD_OptionItem> options = {
      {MHD_OPTION_EXTERNAL_LOGGER, fn(&Callbacks::Log), this},  // first: logs the others
      {MHD_OPTION_LISTEN_SOCKET, listener.get(), nullptr},
      {MHD_OPTION_CONNECTION_LIMIT, static_cast<intptr_t>(mhd_limit), nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, static_cast<intptr_t>(limits_.idle_timeout_seconds), nullptr},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(limits_.connection_memory),
       nullptr},
      {MHD_OPTION_NOTIFY_CONNECTION, fn(&Callbacks::OnConnection), this},
      {MHD_OPTION_NOTIFY_COMPLETED, fn(&Callbacks::OnRequestDone), this},
      {MHD_OPTION_URI_LOG_CALLBACK, fn(&Callbacks::OnRequestLine), this},
      {MHD_OPTION_UNESCAPE_CALLBACK, fn(&Callbacks::Unescape), this},
      {MHD_OPTION_STRICT_FOR_CLIENT, 1, nullptr},
  };
  if (limits_.threads > 1)
    options.push_back(
        {MHD_OPTION_THREAD_POOL_SIZE, static_cast<intptr_t>(limits_.threads), nullptr});
  options.push_back({MHD_OPTION_END, 0, nullptr});
  daemon_ = MHD_start_daemon(flags, 0, &Callbacks::OnAccept, this, &Callbacks::OnRequest, this,
                             MHD_OPTION_ARRAY, options.data(), MHD_OPTION_END);
  std::string why;
  {
    std::lock_guard lock(log_mu_);
    capture_log_ = false;
    why = std::move(start_log_);
  }
  if (!daemon_)
    throw std::runtime_error("HTTP server: libmicrohttpd cannot serve on " +
                             HostPort(address_, port_) + (why.empty() ? "" : ": " + why));
  listener.release();  // MHD_stop_daemon closes it
  watchdog_ = std::thread([this] { Watch(); });
  spdlog::info("http: serving {} /healthz /readyz /api/graph / on {} (up to {} connections)",
               metrics_path_, HostPort(address_, port_), limits_.max_connections);
}

void HttpServer::Stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (watchdog_.joinable()) {
    {
      std::lock_guard lock(connections_mu_);
      watch_stop_ = true;
    }
    watch_cv_.notify_all();
    watchdog_.join();
  }
  if (daemon_) {
    MHD_stop_daemon(daemon_);  // closes every connection, joins its threads
    daemon_ = nullptr;
  }
}

}  // namespace caretta::exporter
