// The tracer against the real kernel: real TCP between network namespaces, exact
// byte counts both ways, roles, failures, loopback, IPv6, many short connections.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "netns.h"
#include "tcp.h"
#include "tracer/bpf_tracer.h"

namespace caretta {
namespace {

using testing::SendMethod;
using testing::Socket;
using tracer::Role;

// Everything one end of a link did, summed over polls: each test uses its own
// server port, so (namespace, role, server port) is one test socket (or, for
// failed connects and the many-connections test, its sockets together). Closes
// folded by the kernel carry no client port, so sockets are not told apart by it.
struct Seen {
  Role role = Role::kUnknown;
  std::uint64_t sent = 0, received = 0;
  std::uint32_t netns = 0;
  std::string local_ip, remote_ip;
  std::uint16_t server_port = 0;
  std::uint64_t closed_sockets = 0, failed_sockets = 0;
  bool closed = false, failed = false;
  int polls_with_bytes = 0;
};

// ctest runs this binary once per discovery mode (CARETTA_TEST_DISCOVERY=tasks|open).
tracer::TracerConfig TestConfig() {
  tracer::TracerConfig cfg;
  cfg.max_connections = 8192;
  const char* mode = std::getenv("CARETTA_TEST_DISCOVERY");
  std::string m = mode ? mode : "tasks";
  cfg.discovery = m == "open" ? tracer::Discovery::kOpen : tracer::Discovery::kTasks;
  return cfg;
}

class TracerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    net_ = std::make_unique<testing::TestNetwork>(2);
    tracer_ = std::make_unique<tracer::BpfTracer>(TestConfig());
    if (TestConfig().discovery == tracer::Discovery::kOpen)
      EXPECT_EQ(tracer_->probe_info().counter_source, "iter/bpf_sk_storage_map");
    else
      EXPECT_EQ(tracer_->probe_info().counter_source, "iter/task_file");
  }

  // Polls and folds deltas into `seen_` keyed by (netns, role, server port).
  void Poll() {
    auto result = tracer_->Poll();
    for (const auto& d : result.deltas) {
      const bool client = d.socket.role == Role::kClient;
      const std::uint16_t server_port = client ? d.socket.remote_port : d.socket.local_port;
      Seen& s = seen_[{d.socket.netns, d.socket.role, server_port}];
      s.role = d.socket.role;
      s.sent += d.sent;
      s.received += d.received;
      s.netns = d.socket.netns;
      s.local_ip = d.socket.local_ip.ToString();
      s.remote_ip = d.socket.remote_ip.ToString();
      s.server_port = server_port;
      if (d.socket.failed) s.failed_sockets += d.sockets;
      if (d.socket.closed && !d.socket.failed) s.closed_sockets += d.sockets;
      s.closed = s.closed || d.socket.closed;
      s.failed = s.failed || d.socket.failed;
      if (d.sent || d.received) ++s.polls_with_bytes;
    }
  }

  // Polls until `pred` holds or two seconds pass (the close handshake is async).
  template <typename Pred>
  void PollUntil(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    do {
      Poll();
      if (pred()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < deadline);
  }

  // The client (in host 0) or server (in host 1) end of the test's connection to
  // `server_port`.
  const Seen* Find(int host, Role role, std::uint16_t server_port) {
    auto it = seen_.find({net_->NetnsInode(host), role, server_port});
    return it == seen_.end() ? nullptr : &it->second;
  }
  const Seen* Client(std::uint16_t server_port) { return Find(0, Role::kClient, server_port); }
  const Seen* Server(std::uint16_t server_port) { return Find(1, Role::kServer, server_port); }

  // An open IPv4 connection from host 0 to a fresh listener in host 1.
  struct Connection {
    Socket listener, client, server;
    std::uint16_t port() const { return listener.LocalPort(); }
  };
  Connection Open(int backlog = 4096) {
    const std::string ip = net_->host(1).ipv4;
    Connection c;
    net_->RunIn(1, [&] { c.listener = testing::Listen(ip, 0, backlog); });
    net_->RunIn(0, [&] { c.client = testing::NewSocket(ip); });
    EXPECT_TRUE(testing::Connect(c.client, ip, c.port()));
    c.server = testing::Accept(c.listener);
    return c;
  }

  // Closes both ends, then ExpectExact for the connection.
  void CloseAndExpectExact(Connection& c, std::size_t request, std::size_t response) {
    c.client.Close();
    c.server.Close();
    ExpectExact(c.port(), request, response);
  }

  // `n` bytes from one end to the other, read in full.
  static void Send(Socket& from, Socket& to, std::size_t n) {
    testing::SendAll(from, testing::Payload(n), SendMethod::kSend);
    testing::RecvExact(to, n);
  }

  // One request/response exchange; returns (client port, server port).
  std::pair<std::uint16_t, std::uint16_t> Exchange(bool v6, std::size_t request,
                                                   std::size_t response, SendMethod method) {
    const std::string server_ip = v6 ? net_->host(1).ipv6 : net_->host(1).ipv4;
    Socket listener, client;
    net_->RunIn(1, [&] { listener = testing::Listen(server_ip); });
    net_->RunIn(0, [&] { client = testing::NewSocket(server_ip); });
    EXPECT_TRUE(testing::Connect(client, server_ip, listener.LocalPort()));
    Socket server = testing::Accept(listener);
    // Receive on another thread: payloads exceed the socket buffers.
    auto got_request =
        std::async(std::launch::async, [&] { return testing::RecvExact(server, request); });
    testing::SendAll(client, testing::Payload(request), method);
    EXPECT_EQ(got_request.get(), testing::Payload(request));
    auto got_response =
        std::async(std::launch::async, [&] { return testing::RecvExact(client, response); });
    testing::SendAll(server, testing::Payload(response, 'k'), method);
    EXPECT_EQ(got_response.get(), testing::Payload(response, 'k'));
    std::pair<std::uint16_t, std::uint16_t> ports{client.LocalPort(), listener.LocalPort()};
    client.Close();
    server.Close();
    return ports;
  }

  // One connection to `server_port`, both ends closed: exact bytes, roles, addresses.
  void ExpectExact(std::uint16_t server_port, std::size_t request, std::size_t response) {
    PollUntil([&] {
      const Seen* c = Client(server_port);
      const Seen* s = Server(server_port);
      return c && s && c->closed && s->closed;
    });
    const Seen* c = Client(server_port);
    const Seen* s = Server(server_port);
    if (!c || !s) {
      for (const auto& [k, v] : seen_)
        std::fprintf(stderr, "seen netns=%u server_port=%u role=%d sent=%lu\n", v.netns,
                     v.server_port, static_cast<int>(v.role), static_cast<unsigned long>(v.sent));
      std::fprintf(stderr, "want netns=%u/%u server_port=%u\n", net_->NetnsInode(0),
                   net_->NetnsInode(1), server_port);
    }
    ASSERT_NE(c, nullptr) << "client socket not reported";
    ASSERT_NE(s, nullptr) << "server socket not reported";
    EXPECT_EQ(c->sent, request);
    EXPECT_EQ(c->received, response);
    EXPECT_EQ(s->sent, response);
    EXPECT_EQ(s->received, request);
    EXPECT_EQ(c->closed_sockets, 1u);
    EXPECT_EQ(s->closed_sockets, 1u);
    EXPECT_EQ(c->remote_ip, s->local_ip);
    EXPECT_EQ(s->remote_ip, c->local_ip);
  }

  std::unique_ptr<testing::TestNetwork> net_;
  std::unique_ptr<tracer::BpfTracer> tracer_;
  std::map<std::tuple<std::uint32_t, Role, std::uint16_t>, Seen> seen_;
};

class ExactBytes : public TracerTest, public ::testing::WithParamInterface<SendMethod> {};

TEST_P(ExactBytes, BothDirectionsIPv4) {
  const std::size_t request = 100'003, response = 777'777;
  auto [client_port, sport] = Exchange(false, request, response, GetParam());
  ExpectExact(sport, request, response);
}

INSTANTIATE_TEST_SUITE_P(AllSendPaths, ExactBytes,
                         ::testing::Values(SendMethod::kSend, SendMethod::kWrite,
                                           SendMethod::kWritev, SendMethod::kSendmsg,
                                           SendMethod::kSendfile, SendMethod::kSplice),
                         [](const auto& info) { return testing::MethodName(info.param); });

TEST_F(TracerTest, IPv6ExactBytesAndAddresses) {
  auto [client_port, sport] = Exchange(true, 4096, 65, SendMethod::kSend);
  ExpectExact(sport, 4096, 65);
  EXPECT_EQ(Client(sport)->remote_ip, net_->host(1).ipv6);
  EXPECT_EQ(Server(sport)->remote_ip, net_->host(0).ipv6);
}

TEST_F(TracerTest, OpenedAndClosedBetweenTwoPolls) {
  Poll();
  auto [client_port, sport] = Exchange(false, 1, 2, SendMethod::kWrite);
  ExpectExact(sport, 1, 2);
}

TEST_F(TracerTest, LongLivedConnectionAcrossPolls) {
  Connection conn = Open();
  // A second descriptor for each end: the task walk meets each socket twice, and
  // must list it once.
  Socket client_dup(dup(conn.client.fd())), server_dup(dup(conn.server.fd()));
  ASSERT_GE(client_dup.fd(), 0);
  ASSERT_GE(server_dup.fd(), 0);
  // The task walk lists a socket from the poll after the one that found it (see
  // dump_task_sockets); with storage from the open, from the first.
  Poll();
  std::uint64_t total = 0;
  for (int i = 1; i <= 6; ++i) {
    const std::size_t n = 1000 * i + 1;
    Send(conn.client, conn.server, n);
    Send(conn.server, conn.client, 64);
    total += n;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // let the ACKs land
    Poll();
    const Seen* c = Client(conn.port());
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->sent, total) << "after poll " << i;
    EXPECT_FALSE(c->closed);
  }
  EXPECT_GE(Client(conn.port())->polls_with_bytes, 5);
  conn.client.Close();
  conn.server.Close();
  client_dup.Close();
  server_dup.Close();
  ExpectExact(conn.port(), total, 6 * 64);
}

// An accepted socket is told from a connecting one by the backlog it inherits from
// its listener; listen(fd, 0) passes on none, and is remembered by port instead.
TEST_F(TracerTest, RolesRightForAListenerWithBacklogZero) {
  Connection c = Open(/*backlog=*/0);
  Send(c.client, c.server, 321);
  Send(c.server, c.client, 45);
  CloseAndExpectExact(c, 321, 45);
}

// listen(fd, 0) then listen(fd, n) changes only the backlog, with no state change:
// the port remembered for the first call is forgotten at the close all the same, so
// a later client on that port is a client.
TEST_F(TracerTest, ReListenedBacklogZeroPortIsForgottenAtClose) {
  const std::string client_ip = net_->host(0).ipv4;
  std::uint16_t reused_port = 0;
  {
    Socket relistened;
    net_->RunIn(0, [&] { relistened = testing::Listen(client_ip, 0, /*backlog=*/0); });
    reused_port = relistened.LocalPort();
    ASSERT_EQ(listen(relistened.fd(), 16), 0) << std::strerror(errno);
  }
  Connection c;
  const std::string server_ip = net_->host(1).ipv4;
  net_->RunIn(1, [&] { c.listener = testing::Listen(server_ip); });
  net_->RunIn(0, [&] { c.client = testing::NewSocket(server_ip); });
  int one = 1;
  ASSERT_EQ(setsockopt(c.client.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = htons(reused_port);
  ASSERT_EQ(inet_pton(AF_INET, client_ip.c_str(), &local.sin_addr), 1);
  ASSERT_EQ(bind(c.client.fd(), reinterpret_cast<sockaddr*>(&local), sizeof local), 0)
      << std::strerror(errno);
  ASSERT_TRUE(testing::Connect(c.client, server_ip, c.port()));
  c.server = testing::Accept(c.listener);
  Send(c.client, c.server, 12);
  Send(c.server, c.client, 34);
  CloseAndExpectExact(c, 12, 34);
}

// The same connection seen live by a poll before it closes: its final record
// finishes what the listing started, nothing is counted twice.
TEST_F(TracerTest, ListedThenClosedCountsOnce) {
  Connection c = Open();
  Send(c.client, c.server, 700);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  Poll();  // finds it (the task walk lists it from the next poll on)
  Poll();
  ASSERT_NE(Client(c.port()), nullptr) << "not listed while open";
  Send(c.server, c.client, 80);
  CloseAndExpectExact(c, 700, 80);
}

TEST_F(TracerTest, AdoptsConnectionsOpenedBeforeTheTracer) {
  tracer_.reset();  // a connection opened while no tracer runs
  Connection c = Open();
  Send(c.client, c.server, 500);  // before: not counted
  tracer_ = std::make_unique<tracer::BpfTracer>(TestConfig());
  const std::uint64_t adopted = tracer_->AdoptExisting(
      {"/var/run/netns/" + net_->host(0).netns, "/var/run/netns/" + net_->host(1).netns});
  // The task walk adopts every process's open sockets, other tests' on this
  // machine too; iter/tcp walks only the namespaces named.
  if (TestConfig().discovery == tracer::Discovery::kOpen)
    EXPECT_EQ(adopted, 2u);
  else
    EXPECT_GE(adopted, 2u);
  Send(c.client, c.server, 1234);
  Send(c.server, c.client, 99);
  CloseAndExpectExact(c, 1234, 99);
}

TEST_F(TracerTest, DetachedHookSeesNothingAndReattachedCountsExactly) {
  tracer_->SetStateHookAttached(false);
  const auto before = tracer_->ReadCounters();
  auto [unused_port, unseen_port] = Exchange(false, 10, 20, SendMethod::kSend);
  Poll();
  Poll();
  EXPECT_EQ(Client(unseen_port), nullptr) << "a connection made while detached was reported";
  EXPECT_EQ(Server(unseen_port), nullptr) << "a connection made while detached was reported";
  EXPECT_EQ(tracer_->ReadCounters()[CARETTA_CNT_CLOSED], before[CARETTA_CNT_CLOSED]);
  tracer_->SetStateHookAttached(true);
  tracer_->SetStateHookAttached(true);  // idempotent
  auto [client_port, sport] = Exchange(false, 300, 4000, SendMethod::kSend);
  ExpectExact(sport, 300, 4000);
}

TEST_F(TracerTest, RefusedConnectIsCountedAsFailed) {
  const std::string ip = net_->host(1).ipv4;
  auto before = tracer_->ReadCounters();
  Socket client;
  net_->RunIn(0, [&] { client = testing::NewSocket(ip); });
  EXPECT_FALSE(testing::Connect(client, ip, 1));  // nothing listens on port 1
  // The kernel has released the local port by the time a failed connect closes.
  auto find_failed = [&]() -> const Seen* {
    for (const auto& [key, s] : seen_)
      if (s.failed && s.server_port == 1 && s.netns == net_->NetnsInode(0)) return &s;
    return nullptr;
  };
  PollUntil([&] { return find_failed() != nullptr; });
  const Seen* c = find_failed();
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->failed);
  EXPECT_EQ(c->failed_sockets, 1u);
  EXPECT_EQ(c->sent, 0u);
  EXPECT_EQ(c->role, Role::kClient);
  auto after = tracer_->ReadCounters();
  EXPECT_GE(after[CARETTA_CNT_FAILED_CONNECT] - before[CARETTA_CNT_FAILED_CONNECT], 1u);
}

TEST_F(TracerTest, LoopbackIsCountedButNotReported) {
  auto before = tracer_->ReadCounters();
  Socket listener, client;
  net_->RunIn(0, [&] {
    listener = testing::Listen("127.0.0.1");
    client = testing::NewSocket("127.0.0.1");
  });
  ASSERT_TRUE(testing::Connect(client, "127.0.0.1", listener.LocalPort()));
  Socket server = testing::Accept(listener);
  testing::SendAll(client, "hello", SendMethod::kSend);
  testing::RecvExact(server, 5);
  std::uint16_t sport = listener.LocalPort();
  client.Close();
  server.Close();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Poll();
  EXPECT_EQ(Find(0, Role::kClient, sport), nullptr);
  EXPECT_EQ(Find(0, Role::kServer, sport), nullptr);
  auto after = tracer_->ReadCounters();
  EXPECT_GE(after[CARETTA_CNT_LOOPBACK] - before[CARETTA_CNT_LOOPBACK], 2u);  // both ends
}

TEST_F(TracerTest, TwoThousandShortConnectionsAllCounted) {
  const std::string ip = net_->host(1).ipv4;
  Socket listener;
  net_->RunIn(1, [&] { listener = testing::Listen(ip); });
  auto before = tracer_->ReadCounters();
  const int kConnections = 2000;
  std::uint64_t sent = 0;
  net_->RunIn(0, [&] {
    for (int i = 0; i < kConnections; ++i) {
      Socket c = testing::NewSocket(ip);
      if (!testing::Connect(c, ip, listener.LocalPort())) throw std::runtime_error("refused");
      Socket s = testing::Accept(listener);
      testing::SendAll(c, testing::Payload(10 + i % 7), SendMethod::kSend);
      testing::RecvExact(s, 10 + i % 7);
      sent += 10 + i % 7;
      // Server closes first so the client side does not pile up in TIME_WAIT.
      s.Close();
      c.Close();
    }
  });
  std::uint64_t client_sockets = 0, client_bytes = 0, server_sockets = 0;
  auto tally = [&] {
    client_sockets = client_bytes = server_sockets = 0;
    if (const Seen* c = Client(listener.LocalPort())) {
      client_sockets = c->closed_sockets;
      client_bytes = c->sent;
    }
    if (const Seen* s = Server(listener.LocalPort())) server_sockets = s->closed_sockets;
  };
  PollUntil([&] {
    tally();
    return client_sockets == kConnections && server_sockets == kConnections;
  });
  auto after = tracer_->ReadCounters();
  std::uint64_t drops = after[CARETTA_CNT_DROP_RINGBUF] - before[CARETTA_CNT_DROP_RINGBUF] +
                        after[CARETTA_CNT_DROP_TABLE_FULL] - before[CARETTA_CNT_DROP_TABLE_FULL] +
                        after[CARETTA_CNT_DROP_STORAGE] - before[CARETTA_CNT_DROP_STORAGE];
  // Every socket is reported, or its loss is counted (drops are host-wide, so other
  // traffic can only make them larger than our shortfall).
  EXPECT_LE(client_sockets + server_sockets, 2u * kConnections);
  EXPECT_GE(client_sockets + server_sockets + drops, 2u * kConnections);
  if (drops == 0) {
    EXPECT_EQ(client_bytes, sent);
  }
  // Kernel counters are host-wide: other traffic may add to them, never subtract.
  EXPECT_GE(after[CARETTA_CNT_OPENED_CLIENT] - before[CARETTA_CNT_OPENED_CLIENT], 2000u);
}

// Where client ports are needed (Service NAT is undone by the full tuple), client
// closes keep one record each, with their own port; servers' still fold per link.
TEST_F(TracerTest, ClientClosesKeepTheirPortWhenAskedTo) {
  tracer_->SetAggregateClientCloses(false);
  auto [client_port, sport] = Exchange(false, 10, 20, SendMethod::kSend);
  bool client_seen = false, server_seen = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!(client_seen && server_seen) && std::chrono::steady_clock::now() < deadline) {
    for (const auto& d : tracer_->Poll().deltas) {
      if (d.socket.role == Role::kClient && d.socket.remote_port == sport && d.socket.closed) {
        EXPECT_EQ(d.socket.local_port, client_port);
        EXPECT_EQ(d.sockets, 1u);
        EXPECT_EQ(d.sent, 10u);
        EXPECT_EQ(d.received, 20u);
        client_seen = true;
      }
      if (d.socket.role == Role::kServer && d.socket.local_port == sport && d.socket.closed) {
        EXPECT_EQ(d.sent, 20u);
        EXPECT_EQ(d.received, 10u);
        server_seen = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(client_seen);
  EXPECT_TRUE(server_seen);
}

// Many short connections on one link fold into one slot per CPU, and a slot that
// changes key hands its totals over: 300 links (more than the cache has slots),
// each with its own bytes, all exact.
TEST_F(TracerTest, CloseCacheEvictionLosesNothing) {
  const std::string ip = net_->host(1).ipv4;
  constexpr int kLinks = 300;
  std::vector<Socket> listeners(kLinks);
  net_->RunIn(1, [&] {
    for (auto& l : listeners) l = testing::Listen(ip);
  });
  std::map<std::uint16_t, std::uint64_t> sent_to;  // by server port
  auto before = tracer_->ReadCounters();
  net_->RunIn(0, [&] {
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < kLinks; ++i) {
        Socket c = testing::NewSocket(ip);
        if (!testing::Connect(c, ip, listeners[i].LocalPort())) throw std::runtime_error("refused");
        Socket s = testing::Accept(listeners[i]);
        const std::size_t n = 1 + (i * 7 + round) % 50;
        testing::SendAll(c, testing::Payload(n), SendMethod::kSend);
        testing::RecvExact(s, n);
        sent_to[listeners[i].LocalPort()] += n;
        s.Close();
        c.Close();
      }
    }
  });
  auto all_there = [&] {
    for (const auto& [port, bytes] : sent_to) {
      const Seen* c = Client(port);
      const Seen* s = Server(port);
      if (!c || !s || c->closed_sockets != 3 || s->closed_sockets != 3) return false;
    }
    return true;
  };
  PollUntil(all_there);
  for (const auto& [port, bytes] : sent_to) {
    const Seen* c = Client(port);
    const Seen* s = Server(port);
    ASSERT_NE(c, nullptr) << port;
    ASSERT_NE(s, nullptr) << port;
    EXPECT_EQ(c->closed_sockets, 3u) << port;
    EXPECT_EQ(s->closed_sockets, 3u) << port;
    EXPECT_EQ(c->sent, bytes) << port;
    EXPECT_EQ(s->received, bytes) << port;
  }
  // They went through the cache (host-wide counter: other closes only add).
  auto after = tracer_->ReadCounters();
  EXPECT_GE(after[CARETTA_CNT_AGGREGATED] - before[CARETTA_CNT_AGGREGATED], 2u * 3 * kLinks);
}

// A reset instead of a FIN (SO_LINGER 0): no FIN to take out on either end, and a
// server that never sent anything reports 0, not a wrapped counter.
TEST_F(TracerTest, ResetConnectionCountsExactly) {
  Connection c = Open();
  Send(c.client, c.server, 100);
  linger off{1, 0};
  ASSERT_EQ(setsockopt(c.client.fd(), SOL_SOCKET, SO_LINGER, &off, sizeof off), 0);
  c.client.Close();  // RST
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  c.server.Close();
  PollUntil([&] {
    const Seen* cl = Client(c.port());
    const Seen* sv = Server(c.port());
    return cl && sv && cl->closed && sv->closed;
  });
  const Seen* cl = Client(c.port());
  const Seen* sv = Server(c.port());
  ASSERT_NE(cl, nullptr);
  ASSERT_NE(sv, nullptr);
  EXPECT_EQ(cl->sent, 100u);
  EXPECT_EQ(cl->received, 0u);
  EXPECT_EQ(sv->sent, 0u);
  EXPECT_EQ(sv->received, 100u);
}

// Idle connections held by child processes, `per_child` in each with both ends:
// one process may not hold 40,000 descriptors (RLIMIT_NOFILE), several can.
// Each child listens on its own port in host 1 and connects from host 0. Commands
// on a pipe: 'S' sends `payload` bytes from every client to its server (read
// there), then the child answers; end of file closes everything and exits.
class HeldConnections {
 public:
  HeldConnections(const testing::TestNetwork& net, int children, int per_child,
                  std::size_t payload = 0) {
    for (int i = 0; i < children; ++i) Spawn(net, per_child, payload);
    for (Child& c : children_) {
      std::uint16_t port = 0;
      if (!ReadFull(c.from_child, &port, sizeof port))
        throw std::runtime_error("a connection-holding child failed");
      ports_.push_back(port);
    }
  }
  ~HeldConnections() { CloseAll(); }
  HeldConnections(const HeldConnections&) = delete;
  HeldConnections& operator=(const HeldConnections&) = delete;

  const std::vector<std::uint16_t>& ports() const { return ports_; }
  bool Has(std::uint16_t port) const {
    return std::find(ports_.begin(), ports_.end(), port) != ports_.end();
  }

  // Every child sends its payload on every connection; returns when all are read.
  void SendPayloads() {
    for (Child& c : children_)
      if (write(c.to_child, "S", 1) != 1) throw std::runtime_error("child gone");
    for (Child& c : children_) {
      char done = 0;
      if (!ReadFull(c.from_child, &done, 1)) throw std::runtime_error("child failed sending");
    }
  }

  // Children close every socket at once and exit (bounded wait, then SIGKILL).
  void CloseAll() {
    for (Child& c : children_) {
      if (c.to_child >= 0) close(c.to_child);
      c.to_child = -1;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (Child& c : children_) {
      if (c.pid <= 0) continue;
      while (waitpid(c.pid, nullptr, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          kill(c.pid, SIGKILL);
          waitpid(c.pid, nullptr, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      c.pid = -1;
      if (c.from_child >= 0) close(c.from_child);
      c.from_child = -1;
    }
  }

 private:
  struct Child {
    pid_t pid = -1;
    int to_child = -1, from_child = -1;
  };

  static bool ReadFull(int fd, void* buf, std::size_t n) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 60'000) <= 0) return false;  // bounded: a minute
      ssize_t got = read(fd, p, n);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      p += got;
      n -= static_cast<std::size_t>(got);
    }
    return true;
  }

  void Spawn(const testing::TestNetwork& net, int per_child, std::size_t payload) {
    int down[2], up[2];
    if (pipe2(down, O_CLOEXEC) != 0 || pipe2(up, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    const std::string server_ns = "/var/run/netns/" + net.host(1).netns;
    const std::string client_ns = "/var/run/netns/" + net.host(0).netns;
    const std::string server_ip = net.host(1).ipv4;
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
      close(down[1]);
      close(up[0]);
      for (const Child& c : children_) {  // siblings' pipes: their EOF must not wait on us
        close(c.to_child);
        close(c.from_child);
      }
      _exit(RunChild(server_ns, client_ns, server_ip, per_child, payload, down[0], up[1]));
    }
    close(down[0]);
    close(up[1]);
    children_.push_back({pid, down[1], up[0]});
  }

  static int RunChild(const std::string& server_ns, const std::string& client_ns,
                      const std::string& server_ip, int n, std::size_t payload, int commands,
                      int replies) {
    try {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      auto enter = [](const std::string& path) {
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) throw std::runtime_error("setns " + path);
        close(fd);
      };
      enter(server_ns);
      Socket listener = testing::Listen(server_ip);
      enter(client_ns);
      std::vector<Socket> clients, servers;
      clients.reserve(n);
      servers.reserve(n);
      for (int i = 0; i < n; ++i) {
        Socket c = testing::NewSocket(server_ip);
        if (!testing::Connect(c, server_ip, listener.LocalPort())) return 2;
        servers.push_back(testing::Accept(listener));
        clients.push_back(std::move(c));
      }
      std::uint16_t port = listener.LocalPort();
      if (write(replies, &port, sizeof port) != sizeof port) return 3;
      char cmd;
      while (read(commands, &cmd, 1) == 1) {
        for (int i = 0; i < n; ++i) {
          testing::SendAll(clients[i], testing::Payload(payload), SendMethod::kSend);
          testing::RecvExact(servers[i], payload);
        }
        if (write(replies, "D", 1) != 1) return 4;
      }
      return 0;  // end of file: every socket closes as the vectors go
    } catch (const std::exception&) {
      return 1;
    }
  }

  std::vector<Child> children_;
  std::vector<std::uint16_t> ports_;
};

// Sockets of the children's connections seen in deltas, by role: listed live,
// closed by their own record, closed by the tracker without one.
struct HeldSeen {
  std::map<Role, std::set<std::uint64_t>> listed, closed, closed_lost;
  std::map<Role, std::uint64_t> sent, received;
  std::map<Role, std::map<std::uint64_t, std::uint64_t>> bytes;  // sent + received, by cookie
};

// TCP sockets in a test namespace that still hold a connection (not TIME_WAIT).
int OpenTcpSockets(const std::string& netns) {
  const std::string cmd =
      "ip netns exec " + netns + " ss -Htan 'not state time-wait' 2>/dev/null | wc -l";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  int n = -1;
  if (std::fscanf(p, "%d", &n) != 1) n = -1;
  pclose(p);
  return n;
}

void Tally(const HeldConnections& held, const testing::TestNetwork& net,
           const std::vector<tracer::ConnectionDelta>& deltas, HeldSeen* seen) {
  for (const auto& d : deltas) {
    const bool client = d.socket.role == Role::kClient;
    if (!held.Has(client ? d.socket.remote_port : d.socket.local_port)) continue;
    if (d.socket.netns != net.NetnsInode(client ? 0 : 1)) continue;
    seen->sent[d.socket.role] += d.sent;
    seen->received[d.socket.role] += d.received;
    seen->bytes[d.socket.role][d.socket.cookie] += d.sent + d.received;
    if (!d.socket.closed)
      seen->listed[d.socket.role].insert(d.socket.cookie);
    else if (d.close_lost)
      seen->closed_lost[d.socket.role].insert(d.socket.cookie);
    else
      seen->closed[d.socket.role].insert(d.socket.cookie);
  }
}

std::set<std::uint64_t> Union(const std::set<std::uint64_t>& a, const std::set<std::uint64_t>& b) {
  std::set<std::uint64_t> out = a;
  out.insert(b.begin(), b.end());
  return out;
}

// Every open socket is listed by the poll after the one that finds it, however
// many there are: 44,000 sockets are more than a hundred iterator buffers (32 KiB
// each), and a record that does not fit one must be written into the next.
TEST_F(TracerTest, TwentyTwoThousandOpenConnectionsAreAllListed) {
  constexpr int kChildren = 4, kPerChild = 5'500;
  tracer::TracerConfig cfg = TestConfig();
  cfg.max_connections = 65'536;
  cfg.ringbuf_bytes = 16u << 20;  // every close record fits: this test is about listing
  cfg.complete_listing_every = 5;
  tracer_.reset();
  tracer_ = std::make_unique<tracer::BpfTracer>(cfg);
  const auto started = std::chrono::steady_clock::now();
  HeldConnections held(*net_, kChildren, kPerChild);
  HeldSeen seen;
  Tally(held, *net_, tracer_->Poll().deltas, &seen);  // finds them (the task walk
  Tally(held, *net_, tracer_->Poll().deltas, &seen);  // lists from the next poll on)
  constexpr std::size_t kConnections = kChildren * kPerChild;
  EXPECT_EQ(seen.listed[Role::kClient].size(), kConnections);
  EXPECT_EQ(seen.listed[Role::kServer].size(), kConnections);
  EXPECT_EQ(tracer_->ReadCounters()[CARETTA_CNT_DROP_TABLE_FULL], 0u);
  // Each listed socket closes once: by its own record or, where none came, by the
  // tracker (complete listings every 5 polls here find it gone).
  held.CloseAll();
  auto all_closed = [&] {
    for (Role r : {Role::kClient, Role::kServer})
      if (Union(seen.closed[r], seen.closed_lost[r]).size() < kConnections) return false;
    return true;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Tally(held, *net_, tracer_->Poll().deltas, &seen);
  } while (!all_closed() && std::chrono::steady_clock::now() < deadline);
  for (Role r : {Role::kClient, Role::kServer})
    EXPECT_EQ(Union(seen.closed[r], seen.closed_lost[r]), seen.listed[r]);
  std::printf("closed by record %zu+%zu, by the tracker %zu+%zu\n",
              seen.closed[Role::kClient].size(), seen.closed[Role::kServer].size(),
              seen.closed_lost[Role::kClient].size(), seen.closed_lost[Role::kServer].size());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(120));
}

// A close record the ring had no room for: the socket is found gone and closed,
// and the bytes it moved since its last listing are counted as lost, never
// silently. The ring is read only at each poll here, so a burst of closes of
// listed sockets overflows it deterministically.
TEST_F(TracerTest, LostCloseRecordsAreReconciledAndTheirBytesCounted) {
  constexpr int kChildren = 2, kPerChild = 3'000;  // 12,000 records, the ring holds ~5,000
  constexpr std::size_t kPayload = 123;
  tracer::TracerConfig cfg = TestConfig();
  cfg.max_connections = 65'536;
  cfg.ringbuf_bytes = tracer::TracerConfig::kMinRingbufBytes;
  cfg.drain_ring_between_polls = false;
  tracer_.reset();
  tracer_ = std::make_unique<tracer::BpfTracer>(cfg);
  HeldConnections held(*net_, kChildren, kPerChild, kPayload);
  HeldSeen seen;
  Tally(held, *net_, tracer_->Poll().deltas, &seen);
  Tally(held, *net_, tracer_->Poll().deltas, &seen);
  constexpr std::size_t kConnections = kChildren * kPerChild;
  ASSERT_EQ(seen.listed[Role::kClient].size(), kConnections);
  ASSERT_EQ(seen.listed[Role::kServer].size(), kConnections);
  // Bytes no listing sees: only the close records carry them.
  held.SendPayloads();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the ACKs land
  const std::uint64_t drops_before = tracer_->ReadCounter(CARETTA_CNT_DROP_RINGBUF);
  const tracer::BpfTracer::LostBytes lost_before = tracer_->LostCloseBytes();
  const std::uint64_t missed_before = tracer_->MissedStateChanges();
  held.CloseAll();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the closes' handshakes
  auto all_closed = [&] {
    for (Role r : {Role::kClient, Role::kServer})
      if (Union(seen.closed[r], seen.closed_lost[r]).size() < kConnections) return false;
    return true;
  };
  // Until every socket is closed in the kernel too: without the storage walk, a
  // socket no process holds any more (finishing its handshake, e.g. a FIN lost in
  // the burst and retransmitted) is closed by the tracker before its record comes.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {
    Tally(held, *net_, tracer_->Poll().deltas, &seen);
    if (all_closed() && OpenTcpSockets(net_->host(0).netns) == 0 &&
        OpenTcpSockets(net_->host(1).netns) == 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < deadline);
  Tally(held, *net_, tracer_->Poll().deltas, &seen);  // the last records
  const std::uint64_t drops = tracer_->ReadCounter(CARETTA_CNT_DROP_RINGBUF) - drops_before;
  const tracer::BpfTracer::LostBytes lost_after = tracer_->LostCloseBytes();
  // Closes the kernel did not run the hook for (it does not nest a program in
  // itself: a close in a softirq landing on one CPU while the hook runs there is
  // skipped). Their sockets are closed by the tracker too; what they moved since
  // their last listing is unknown, so only their number is counted.
  const std::uint64_t missed = tracer_->MissedStateChanges() - missed_before;
  ASSERT_GT(drops, 0u) << "the ring never overflowed: nothing was tested";
  std::map<Role, std::uint64_t> lost_sockets;  // closed by the tracker, no bytes ever came
  for (Role r : {Role::kClient, Role::kServer}) {
    // Every listed socket is closed once: by its record, or by the tracker.
    EXPECT_EQ(Union(seen.closed[r], seen.closed_lost[r]), seen.listed[r]);
    for (std::uint64_t cookie : seen.closed_lost[r]) {
      EXPECT_FALSE(seen.closed[r].contains(cookie));
      if (seen.bytes[r][cookie] == 0) ++lost_sockets[r];
    }
  }
  std::printf(
      "ring drops %lu; closed by record %zu+%zu, by the tracker %zu+%zu (bytes lost %lu+%lu); "
      "lost bytes counted %lu/%lu; hook runs skipped %lu\n",
      static_cast<unsigned long>(drops), seen.closed[Role::kClient].size(),
      seen.closed[Role::kServer].size(), seen.closed_lost[Role::kClient].size(),
      seen.closed_lost[Role::kServer].size(),
      static_cast<unsigned long>(lost_sockets[Role::kClient]),
      static_cast<unsigned long>(lost_sockets[Role::kServer]),
      static_cast<unsigned long>(lost_after.sent - lost_before.sent),
      static_cast<unsigned long>(lost_after.received - lost_before.received),
      static_cast<unsigned long>(missed));
  EXPECT_GT(lost_sockets[Role::kClient] + lost_sockets[Role::kServer], 0u);
  // What the records brought is exact: each socket whose record was lost lacks
  // exactly its payload, and that is counted as lost (the counters are host-wide:
  // other closes the ring lost can only add).
  const std::uint64_t total = kConnections * kPayload;
  EXPECT_EQ(seen.sent[Role::kClient] + kPayload * lost_sockets[Role::kClient], total);
  EXPECT_EQ(seen.received[Role::kServer] + kPayload * lost_sockets[Role::kServer], total);
  EXPECT_GE(lost_after.sent - lost_before.sent + kPayload * missed,
            kPayload * lost_sockets[Role::kClient]);
  EXPECT_GE(lost_after.received - lost_before.received + kPayload * missed,
            kPayload * lost_sockets[Role::kServer]);
  EXPECT_LE(lost_sockets[Role::kClient] + lost_sockets[Role::kServer], drops + missed);
}

// A socket the table has no room for is counted once, not at every poll.
TEST_F(TracerTest, TableFullIsCountedOncePerSocket) {
  constexpr int kConnections = 300;
  tracer::TracerConfig cfg = TestConfig();
  cfg.max_connections = 16;
  tracer_.reset();
  tracer_ = std::make_unique<tracer::BpfTracer>(cfg);
  const std::uint64_t before = tracer_->ReadCounter(CARETTA_CNT_DROP_TABLE_FULL);
  HeldConnections held(*net_, 1, kConnections);
  Poll();  // the task walk meets them here; with storage from the open, they are met already
  const std::uint64_t first = tracer_->ReadCounter(CARETTA_CNT_DROP_TABLE_FULL);
  // At most 16 of our 600 sockets got room (others' sockets may have taken some).
  const std::uint64_t untracked = 2 * kConnections - cfg.max_connections;
  EXPECT_GE(first - before, untracked);
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    Poll();
  }
  // Counted again at every poll, this would have grown by 4 x 584; sockets other
  // processes open meanwhile may add a few.
  EXPECT_LT(tracer_->ReadCounter(CARETTA_CNT_DROP_TABLE_FULL) - first, untracked / 4);
  if (TestConfig().discovery == tracer::Discovery::kOpen) return;  // counted at the open
  // The task walk knows how many it cannot track now, and forgets them as they close.
  const std::uint64_t while_open = tracer_->UntrackedSockets();
  EXPECT_GE(while_open, untracked);
  held.CloseAll();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Poll();
  EXPECT_LE(tracer_->UntrackedSockets() + untracked, while_open);
}

}  // namespace
}  // namespace caretta
