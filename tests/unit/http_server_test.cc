// The agent's HTTP server with stand-in handlers on 127.0.0.1 (no privileges):
// routing, methods, the bind errors, deadlines, the connection limit, header
// bombs and shutdown at any moment. Hostile load at scale: http_hostile_test.py.
#include "export/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/fd_limit.h"

namespace caretta::exporter {
namespace {

using Clock = std::chrono::steady_clock;

class Socket {
 public:
  explicit Socket(std::uint16_t port, const char* address = "127.0.0.1") {
    bool v6 = std::string(address).find(':') != std::string::npos;
    fd_ = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return;
    timeval tv{5, 0};  // no test waits forever
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc = -1;
    if (v6) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(port);
      inet_pton(AF_INET6, address, &a.sin6_addr);
      rc = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      inet_pton(AF_INET, address, &a.sin_addr);
      rc = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (rc != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) close(fd_);
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Everything until the server closes (or 5 s of silence).
  std::string ReadAll() {
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  // True when the server closed the connection within `timeout` (EOF or reset).
  bool ClosedWithin(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    auto end = Clock::now() + timeout;
    while (Clock::now() < end) {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
      if (poll(&p, 1, left) <= 0) return false;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
};

struct Response {
  int status = 0;
  std::string head;
  std::string body;
};

Response Parse(const std::string& raw) {
  Response r;
  auto end = raw.find("\r\n\r\n");
  r.head = raw.substr(0, end);
  if (end != std::string::npos) r.body = raw.substr(end + 4);
  if (raw.rfind("HTTP/1.", 0) == 0 && raw.size() > 12) r.status = std::stoi(raw.substr(9, 3));
  return r;
}

Response Request(std::uint16_t port, const std::string& method, const std::string& target,
                 const char* address = "127.0.0.1") {
  Socket s(port, address);
  if (!s.ok()) return {};
  s.Send(method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  return Parse(s.ReadAll());
}

std::uint64_t Count(const std::vector<std::pair<std::string, std::uint64_t>>& counts,
                    const std::string& key) {
  for (const auto& [k, n] : counts)
    if (k == key) return n;
  return 0;
}

std::uint64_t RssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  return 0;
}

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { common::RaiseFileLimit(); }

  HttpHandlers Handlers() {
    return HttpHandlers{.metrics = [this] { return metrics_body_; },
                        .graph =
                            [this](double window) {
                              last_window_ = window;
                              return std::make_pair(200, std::string("{\"edges\":[]}"));
                            },
                        .ready = [this] { return ready_.load(); }};
  }
  std::unique_ptr<HttpServer> Started(HttpLimits limits = {}, const char* address = "127.0.0.1") {
    auto server = std::make_unique<HttpServer>(address, 0, "/metrics", Handlers(), limits);
    server->Start();
    return server;
  }

  std::string metrics_body_ = "caretta_up 1\n";
  std::atomic<bool> ready_{false};
  std::atomic<double> last_window_{0};
};

TEST_F(HttpServerTest, Endpoints) {
  auto server = Started();
  ASSERT_NE(server->port(), 0);
  Response r = Request(server->port(), "GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  r = Request(server->port(), "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, metrics_body_);
  EXPECT_NE(r.head.find("text/plain; version=0.0.4"), std::string::npos) << r.head;
  EXPECT_EQ(Request(server->port(), "GET", "/readyz").status, 503);
  ready_ = true;
  EXPECT_EQ(Request(server->port(), "GET", "/readyz").status, 200);
  r = Request(server->port(), "GET", "/api/graph?window=60");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"edges\":[]}");
  EXPECT_EQ(last_window_.load(), 60);
  r = Request(server->port(), "GET", "/api/graph");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(last_window_.load(), 300);  // the default
  for (const char* bad : {"abc", "-5", "0", "1e999", "86401", "60x", ""}) {
    if (*bad == '\0') continue;  // empty means the default
    EXPECT_EQ(Request(server->port(), "GET", std::string("/api/graph?window=") + bad).status, 400)
        << bad;
  }
}

TEST_F(HttpServerTest, HeadHasNoBody) {
  auto server = Started();
  Response r = Request(server->port(), "HEAD", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_NE(r.head.find("Content-Length: " + std::to_string(metrics_body_.size())),
            std::string::npos)
      << r.head;
}

TEST_F(HttpServerTest, OnlyGetAndHead) {
  auto server = Started();
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    Response r = Request(server->port(), method, "/metrics");
    EXPECT_EQ(r.status, 405) << method;
    EXPECT_NE(r.head.find("Allow: GET, HEAD"), std::string::npos) << r.head;
  }
  // A body that is never read does not hold the connection.
  Socket s(server->port());
  s.Send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\nxx");
  EXPECT_EQ(Parse(s.ReadAll()).status, 405);
  EXPECT_EQ(Count(server->RequestCounts(), "/metrics 405"), 6u);
}

TEST_F(HttpServerTest, PathsMatchExactly) {
  auto server = Started();
  for (const char* path :
       {"/metrics/../x", "/metrics/", "/metricsx", "/.*", "/m(", "/healthz%00x", "/healthz/",
        "//healthz", "/HEALTHZ", "/../../etc/passwd", "/api/graph/", "/nope", "/metrics%2f..%2fx"})
    EXPECT_EQ(Request(server->port(), "GET", path).status, 404) << path;
  // %-escapes of ordinary characters are the same path.
  EXPECT_EQ(Request(server->port(), "GET", "/health%7a").status, 200);
  // Unknown paths fold into one label.
  auto counts = server->RequestCounts();
  EXPECT_GE(Count(counts, "other 404"), 10u);
  for (const auto& [key, n] : counts)
    EXPECT_TRUE(key.rfind("other ", 0) == 0 || key.rfind("/healthz ", 0) == 0 ||
                key.rfind("/api/graph ", 0) == 0 || key.rfind("/metrics ", 0) == 0)
        << key;
}

TEST_F(HttpServerTest, LongUrlsAndHeaderBombsAreRefused) {
  HttpLimits limits;
  auto server = Started(limits);
  // Over the URL bound but within the head memory: 414 from us.
  EXPECT_EQ(Request(server->port(), "GET", "/" + std::string(limits.max_url + 10, 'a')).status,
            414);
  // A request line bigger than the whole head memory: 414 from MHD.
  EXPECT_EQ(Request(server->port(), "GET", "/" + std::string(100000, 'a')).status, 414);

  // 1,000,000 header lines, streamed: 431 once the head memory is full, and the
  // connection is closed; RSS stays where it was.
  const std::uint64_t rss_before = RssKiB();
  Socket s(server->port());
  ASSERT_TRUE(s.ok());
  std::string chunk;
  for (int i = 0; i < 10000; ++i) chunk += "A: b\r\n";
  std::string answer;
  bool sent_head = s.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n");
  ASSERT_TRUE(sent_head);
  int chunks_sent = 0;
  for (; chunks_sent < 100; ++chunks_sent) {
    pollfd p{s.fd(), POLLIN, 0};
    if (poll(&p, 1, 0) > 0) break;  // the answer came: stop sending
    if (!s.Send(chunk)) break;
  }
  answer = s.ReadAll();
  EXPECT_LT(chunks_sent, 100);
  EXPECT_EQ(Parse(answer).status, 431) << answer.substr(0, 200);
  const std::uint64_t rss_after = RssKiB();
  EXPECT_LT(rss_after, rss_before + 10 * 1024) << rss_before << " KiB -> " << rss_after << " KiB";
  // Counted when MHD reaps the connection, a moment after it closed it.
  for (int i = 0; i < 50 && Count(server->ConnectionDrops(), "bad_head") == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(Count(server->ConnectionDrops(), "bad_head"), 1u);
  EXPECT_EQ(Request(server->port(), "GET", "/healthz").status, 200);
}

#ifdef CARETTA_HAVE_UI
TEST_F(HttpServerTest, ServesTheWebMap) {
  auto server = Started();
  Response r = Request(server->port(), "GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Content-Type: text/html"), std::string::npos) << r.head;
  EXPECT_NE(r.body.find("<!doctype html>"), std::string::npos);
  r = Request(server->port(), "GET", "/app.js?v=2");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Content-Type: text/javascript"), std::string::npos) << r.head;
  EXPECT_GT(r.body.size(), 100000u);
  EXPECT_EQ(Request(server->port(), "GET", "/app.js/").status, 404);
  EXPECT_EQ(Request(server->port(), "POST", "/").status, 405);
  auto counts = server->RequestCounts();
  EXPECT_EQ(Count(counts, "/ 200"), 1u);
  EXPECT_EQ(Count(counts, "/app.js 200"), 1u);
  EXPECT_EQ(Count(counts, "/ 405"), 1u);
  EXPECT_EQ(Count(counts, "other 404"), 1u);
}
#endif

TEST_F(HttpServerTest, SecondServerOnThePortFailsClearly) {
  auto first = Started();
  HttpServer second("127.0.0.1", first->port(), "/metrics", Handlers());
  try {
    second.Start();
    FAIL() << "second server started on a port in use";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("port " + std::to_string(first->port()) +
                                         " on 127.0.0.1 is already in use (another caretta?)"),
              std::string::npos)
        << e.what();
  }
  second.Stop();  // after a failed Start: fine, and twice
  second.Stop();
  EXPECT_EQ(Request(first->port(), "GET", "/healthz").status, 200);
}

TEST_F(HttpServerTest, AddressErrorsNameTheCause) {
  for (const char* address : {"999.1.1.1", "localhost", "not an address", ""}) {
    HttpServer server(address, 0, "/metrics", Handlers());
    try {
      server.Start();
      FAIL() << address;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("is not an address of this host"), std::string::npos)
          << e.what();
    }
  }
  // Parses, but this host does not own it (TEST-NET-3).
  HttpServer foreign("203.0.113.7", 0, "/metrics", Handlers());
  try {
    foreign.Start();
    FAIL() << "bound a foreign address";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("203.0.113.7 is not an address of this host"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(HttpServerTest, MetricsPathMustBeAPath) {
  for (const char* path : {"", "metrics", "/healthz", "/readyz", "/api/graph"}) {
    HttpServer server("127.0.0.1", 0, path, Handlers());
    EXPECT_THROW(server.Start(), std::invalid_argument) << path;
  }
}

TEST_F(HttpServerTest, Ipv6AndDualStack) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) GTEST_SKIP() << "no IPv6 here";
  close(fd);
  auto server = Started({}, "::");
  EXPECT_EQ(Request(server->port(), "GET", "/healthz", "::1").status, 200);
  EXPECT_EQ(Request(server->port(), "GET", "/healthz", "127.0.0.1").status, 200);
  auto v6only = Started({}, "::1");
  EXPECT_EQ(Request(v6only->port(), "GET", "/healthz", "::1").status, 200);
}

TEST_F(HttpServerTest, StopAtAnyMoment) {
  {
    HttpServer never("127.0.0.1", 0, "/metrics", Handlers());
    never.Stop();
    never.Stop();
    EXPECT_THROW(never.Start(), std::logic_error);
  }
  auto server = Started();
  // Slow clients mid-head and an idle one do not hold Stop() up.
  std::vector<Socket> held;
  for (int i = 0; i < 20; ++i) {
    held.emplace_back(server->port());
    if (i % 2) held.back().Send("GET /metrics HTTP/1.1\r\nHo");
  }
  auto start = Clock::now();
  server->Stop();
  server->Stop();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  EXPECT_TRUE(held[1].ClosedWithin(std::chrono::milliseconds(1000)));
}

TEST_F(HttpServerTest, SlowHeadsMeetTheirDeadline) {
  HttpLimits limits;
  limits.head_deadline = std::chrono::milliseconds(800);
  auto server = Started(limits);
  Socket slow(server->port());
  Socket idle(server->port());
  ASSERT_TRUE(slow.ok() && idle.ok());
  auto start = Clock::now();
  // Slowloris: a byte every 100 ms, each resetting any idle timer.
  const std::string head = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa";
  bool cut = false;
  for (char c : head) {
    if (!slow.Send(std::string(1, c))) {
      cut = true;
      break;
    }
    if (slow.ClosedWithin(std::chrono::milliseconds(100))) {
      cut = true;
      break;
    }
  }
  EXPECT_TRUE(cut);
  auto took = Clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(700));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
  EXPECT_TRUE(idle.ClosedWithin(std::chrono::milliseconds(1000)));
  // Counted as they are cut; the second may trail the first by a moment.
  for (int i = 0; i < 50 && Count(server->ConnectionDrops(), "head_deadline") < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(Count(server->ConnectionDrops(), "head_deadline"), 2u);
  EXPECT_EQ(Request(server->port(), "GET", "/healthz").status, 200);
}

TEST_F(HttpServerTest, KeepAliveGetsAFreshHeadDeadline) {
  HttpLimits limits;
  limits.head_deadline = std::chrono::milliseconds(800);
  auto server = Started(limits);
  Socket s(server->port());
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // 1.5 s in all
    ASSERT_TRUE(s.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    char buf[1024];
    ssize_t n = recv(s.fd(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "request " << i;
    EXPECT_EQ(Parse(std::string(buf, static_cast<std::size_t>(n))).status, 200);
  }
  // Then idle: closed after the head deadline, and not counted as a slow head.
  EXPECT_TRUE(s.ClosedWithin(std::chrono::milliseconds(1500)));
  for (int i = 0; i < 50 && Count(server->ConnectionDrops(), "keepalive_idle") == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(Count(server->ConnectionDrops(), "keepalive_idle"), 1u);
  EXPECT_EQ(Count(server->ConnectionDrops(), "head_deadline"), 0u);
}

TEST_F(HttpServerTest, ExcessConnectionsAreClosedAtOnce) {
  HttpLimits limits;
  limits.max_connections = 10;
  limits.threads = 1;
  auto server = Started(limits);
  EXPECT_EQ(server->connection_limit(), 10u);
  std::vector<Socket> held;
  for (int i = 0; i < 10; ++i) held.emplace_back(server->port());
  // Let the server register them, then one more: closed at once, not queued.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Socket extra(server->port());
  ASSERT_TRUE(extra.ok());  // the kernel accepted it, the server then closed it
  EXPECT_TRUE(extra.ClosedWithin(std::chrono::milliseconds(500)));
  EXPECT_GE(Count(server->ConnectionDrops(), "limit"), 1u);
  held.clear();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Request(server->port(), "GET", "/healthz").status, 200);
}

TEST_F(HttpServerTest, LimitLeavesFileDescriptorsInReserve) {
  const common::FileLimit fds = common::CurrentFileLimit();
  HttpLimits limits;
  limits.max_connections = 1000000;
  auto server = Started(limits);
  EXPECT_LE(server->connection_limit() + limits.fd_reserve + common::OpenFileCount(), fds.soft);
  EXPECT_GT(server->connection_limit(), 0u);
}

TEST_F(HttpServerTest, SlowReadersHoldAtMostTheBodiesInFlight) {
  metrics_body_ = std::string(32 << 20, 'x');  // more than the socket buffers take
  HttpLimits limits;
  limits.max_bodies_in_flight = 1;
  auto server = Started(limits);
  Socket slow(server->port());
  ASSERT_TRUE(slow.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));  // and never reads
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Response r = Request(server->port(), "GET", "/metrics");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.head.find("Retry-After: 1"), std::string::npos) << r.head;
  EXPECT_EQ(Request(server->port(), "GET", "/healthz").status, 200);
  slow = Socket(0);  // the reader goes: its body is freed
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    status = Request(server->port(), "HEAD", "/metrics").status;
  }
  EXPECT_EQ(status, 200);
}

// Chunked transfer coding undone (the stream's length is not known up front).
std::string Dechunk(const std::string& body) {
  std::string out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) break;
    std::size_t size = std::stoul(body.substr(pos, eol - pos), nullptr, 16);
    if (size == 0) break;
    out += body.substr(eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return out;
}

TEST_F(HttpServerTest, MetricsStreamIsSentPieceByPiece) {
  std::atomic<int> pieces{0};
  const int total = 100000;  // 1 KiB each: 100 MB in all
  HttpHandlers handlers = Handlers();
  handlers.metrics_stream = [&pieces] {
    auto next = std::make_shared<int>(0);
    return [next, &pieces](std::string& out) {
      if (*next == total) return false;
      ++pieces;
      out += std::string(1023, static_cast<char>('a' + (*next)++ % 26)) + "\n";
      return true;
    };
  };
  HttpServer server("127.0.0.1", 0, "/metrics", handlers);
  server.Start();
  // A client that does not read: only what fits the socket buffers is rendered.
  {
    Socket slow(server.port());
    ASSERT_TRUE(slow.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_GT(pieces.load(), 0);
    EXPECT_LT(pieces.load(), total / 4) << "rendered ahead of the client";
  }
  // A whole scrape: every piece, in order.
  Socket s(server.port());
  ASSERT_TRUE(s.Send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  Response r = Parse(s.ReadAll());
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Transfer-Encoding: chunked"), std::string::npos) << r.head;
  std::string text = Dechunk(r.body);
  ASSERT_EQ(text.size(), static_cast<std::size_t>(total) * 1024);
  EXPECT_EQ(text.substr(0, 3), "aaa");
  EXPECT_EQ(text.substr(1024, 3), "bbb");
  EXPECT_EQ(text.substr(text.size() - 2, 2),
            std::string(1, static_cast<char>('a' + (total - 1) % 26)) + "\n");
}

TEST_F(HttpServerTest, MetricsStreamThatThrowsIsCutShort) {
  HttpHandlers handlers = Handlers();
  handlers.metrics_stream = [] {
    auto calls = std::make_shared<int>(0);
    return [calls](std::string& out) -> bool {
      if (++*calls == 3) throw std::runtime_error("snapshot gone");
      out += "caretta_up 1\n";
      return true;
    };
  };
  HttpServer server("127.0.0.1", 0, "/metrics", handlers);
  server.Start();
  Socket s(server.port());
  ASSERT_TRUE(s.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string raw = s.ReadAll();  // ends: the server closed it
  EXPECT_EQ(raw.find("\r\n0\r\n\r\n"), std::string::npos) << "a cut answer must not look whole";
  EXPECT_EQ(Request(server.port(), "GET", "/healthz").status, 200);
}

TEST_F(HttpServerTest, BigBodiesAreServedWhole) {
  metrics_body_ = std::string(32 << 20, 'x');  // 32 MiB
  auto server = Started();
  Response r = Request(server->port(), "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), metrics_body_.size());
}

}  // namespace
}  // namespace caretta::exporter
