#include "app/agent.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>

#include "common/netns.h"
#include "export/metrics.h"
#include "resolve/host_resolver.h"
#include "spdlog/spdlog.h"

namespace caretta::app {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

std::uint32_t OwnNetns() {
  struct stat st {};
  return stat("/proc/self/ns/net", &st) == 0 ? static_cast<std::uint32_t>(st.st_ino) : 0;
}

// Our process id as the kernel reports it to BPF (host PID namespace). In a
// container getpid() is the container's number; the host procfs' "self" link
// names the host one.
std::uint32_t KernelTgid(const std::string& host_proc) {
  char buf[32];
  ssize_t n = readlink((host_proc + "/self").c_str(), buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = '\0';
    char* end = nullptr;
    unsigned long pid = std::strtoul(buf, &end, 10);
    if (end && *end == '\0' && pid > 0) return static_cast<std::uint32_t>(pid);
  }
  return static_cast<std::uint32_t>(getpid());
}

}  // namespace

UiServer::UiServer(const Config& config) : source_(config.graph_prometheus_url) {
  http_ = std::make_unique<exporter::HttpServer>(
      config.listen_address, config.prometheus_port, config.prometheus_endpoint,
      exporter::HttpHandlers{
          .metrics =
              [this] {
                return "# HELP caretta_graph_query_failures_total failed PromQL graph queries\n"
                       "# TYPE caretta_graph_query_failures_total counter\n"
                       "caretta_graph_query_failures_total " +
                       std::to_string(source_.failures()) + "\n";
              },
          .graph =
              [this](double window) {
                bool ok = false;
                std::string body = source_.GraphJson(window, &ok);
                return std::make_pair(ok ? 200 : 502, body);
              },
          .ready = [] { return true; }});
  http_->Start();
  spdlog::info("ui: web map on :{}, graph from {}", http_->port(), config.graph_prometheus_url);
}

Agent::Agent(Config config)
    : config_(std::move(config)),
      hostname_(config_.node_name.empty() ? Hostname() : config_.node_name),
      start_time_(Now()),
      table_(config_.max_links),
      resolver_(hostname_) {
  // A wrong HOST_PROC would quietly leave the agent's own sockets counted and
  // namespaces unnamed: refuse it before anything starts.
  if (char link[32]; readlink((config_.host_proc + "/self").c_str(), link, sizeof link) <= 0)
    throw std::runtime_error(
        "HOST_PROC=" + config_.host_proc +
        " is not a procfs mount (no readable 'self' link: " + std::strerror(errno) + ")");
  http_ = std::make_unique<exporter::HttpServer>(
      config_.listen_address, config_.prometheus_port, config_.prometheus_endpoint,
      exporter::HttpHandlers{
          // Streamed: a scrape holds one piece of the text, never all of it (tens
          // of MB at tens of thousands of links). Answers from the first moment:
          // before the stages are up, with what exists (links so far, HTTP and
          // start-up figures).
          .metrics = {},
          .graph = [this](double window) -> std::pair<int, std::string> {
            if (graph_source_) {
              bool ok = false;
              std::string body = graph_source_->GraphJson(window, &ok);
              return {ok ? 200 : 502, body};
            }
            auto snap = table_.Snapshot();
            return {200, exporter::RenderGraphJson(*snap, window, snap->taken_at)};
          },
          .ready = [this] { return ready_.load(); },
          .metrics_stream =
              [this] {
                const bool up = stages_up_.load(std::memory_order_acquire);
                std::string tail;
                if (up && k8s_) k8s_->AppendMetrics(tail);
                auto stream = std::make_shared<exporter::MetricsStream>(
                    table_.Snapshot(), Status(up), std::move(tail));
                return [stream](std::string& out) { return stream->Next(out); };
              }});
  if (!config_.graph_prometheus_url.empty())
    graph_source_ = std::make_unique<exporter::PrometheusGraphSource>(config_.graph_prometheus_url);
  http_->Start();

  tracer::TracerConfig tc;
  // Client closes keep their ports until it is known below whether Service NAT must
  // be undone from them: folded before that, they would lose it.
  tc.aggregate_client_closes = false;
  tc.max_connections = config_.max_connections;
  tc.ringbuf_bytes = config_.ringbuf_kib * 1024;
  tc.track_loopback = config_.track_loopback;
  tc.discovery = config_.socket_discovery == SocketDiscovery::kTasks  ? tracer::Discovery::kTasks
                 : config_.socket_discovery == SocketDiscovery::kOpen ? tracer::Discovery::kOpen
                                                                      : tracer::Discovery::kAuto;
  if (!config_.trace_self) {
    tc.self_tgid = KernelTgid(config_.host_proc);
    tc.self_port = http_->port();
    tc.self_netns = OwnNetns();
    own_addresses_ = resolve::LocalAddresses();
  }
  tracer_ = std::make_unique<tracer::BpfTracer>(tc);
  tracer_->AdoptExisting([&] {
    std::vector<std::string> paths;  // the task walk finds every socket without them
    if (tracer_->discovery() == tracer::Discovery::kOpen)
      for (const auto& ns : common::EnumerateNetns(config_.host_proc, config_.netns_dir, true))
        paths.push_back(ns.path);
    return paths;
  }());

  resolve::KubernetesOptions k8s_options;
  k8s_options.kubeconfig = config_.kubeconfig;
  k8s_options.traverse_up_hierarchy = config_.traverse_up_hierarchy;
  k8s_options.cgroup_root = config_.host_cgroup;
  k8s_options.env = ProcessEnv();
  k8s_ = resolve::MakeKubernetesResolver(k8s_options);
  if (k8s_) resolver_.Add(k8s_);
  if (config_.conntrack_netns.mode != ConntrackNetns::Mode::kOff) {
    std::vector<std::string> paths = config_.conntrack_netns.paths;
    if (config_.conntrack_netns.mode == ConntrackNetns::Mode::kAuto)
      paths = {config_.host_proc + "/1/ns/net"};
    nat_ = std::make_unique<resolve::ConntrackNat>(paths);
    if (!nat_->usable()) nat_.reset();
  }
  // Service NAT is undone by each client socket's full tuple, so client closes keep
  // their own records when a Service may be behind them; otherwise the kernel folds
  // them per link.
  tracer_->SetAggregateClientCloses(!(k8s_ && nat_));
  resolver_.Add(std::make_shared<resolve::HostResolver>(
      hostname_, config_.host_proc, config_.netns_dir, std::chrono::seconds(10)));
  if (config_.resolve_dns) {
    dns_ = std::make_shared<resolve::DnsResolver>(
        resolve::DnsResolver::Options{}, config_.dns_server.empty()
                                             ? resolve::DnsResolver::Lookup{}
                                             : resolve::ServerReverseLookup(config_.dns_server));
    resolver_.Add(dns_);
  }
  stages_up_.store(true, std::memory_order_release);
  loop_ = std::thread([this] { Loop(); });
}

Agent::~Agent() { Stop(); }

void Agent::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  if (http_) http_->Stop();  // no handler runs past this point
  tracer_.reset();           // detaches the BPF programs
  spdlog::info("agent: stopped, probes detached");
}

void Agent::Loop() {
  const auto interval = std::chrono::seconds(config_.poll_interval_seconds);
  // A short wait for the usual quick sync: the kernel keeps counting meanwhile.
  // Past it, links whose names are still provisional are held (see PollOnce), so
  // an API server that is down costs readiness nothing and exports no wrong name.
  if (k8s_) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!k8s_->WaitSynced(std::chrono::milliseconds(500))) {
      std::lock_guard lock(stop_mu_);
      if (stopping_) return;
      if (std::chrono::steady_clock::now() > deadline) {
        spdlog::warn(
            "agent: Kubernetes index not synced after 10 s; polling, links with provisional "
            "names held until the index is complete (at most {} min)",
            kMaxProvisionalHold.count());
        break;
      }
    }
  }
  std::unique_lock lock(stop_mu_);
  for (;;) {
    lock.unlock();
    try {
      PollOnce();
    } catch (const std::exception& e) {
      spdlog::error("agent: poll failed: {}", e.what());
    }
    lock.lock();
    if (stop_cv_.wait_for(lock, interval, [this] { return stopping_; })) return;
  }
}

bool Agent::Provisional(const resolve::Entity& e) const {
  if (!k8s_) return false;
  if (e.incomplete) return true;
  return (e.kind == "external" || e.kind == "node") && !k8s_->AddressesSynced();
}

std::optional<Agent::Named> Agent::Resolve(const tracer::ConnectionDelta& d) {
  const tracer::SocketSnapshot& s = d.socket;
  if (s.role == tracer::Role::kUnknown) return std::nullopt;
  resolve::Endpoint local{s.local_ip, s.local_port, s.netns, s.cgroup_id, s.pid, true};
  resolve::Endpoint remote{s.remote_ip, s.remote_port, s.netns, 0, 0, false};
  const bool client = s.role == tracer::Role::kClient;
  // The BPF side already skips the agent's own sockets; the scraper's end of a
  // scrape is another process's client socket, recognised by where it goes.
  if (client && s.remote_port == http_->port() && !config_.trace_self &&
      std::find(own_addresses_.begin(), own_addresses_.end(), s.remote_ip) !=
          own_addresses_.end()) {
    ++self_scrapes_skipped_;
    return std::nullopt;
  }
  Named named{{}, client ? local : remote, client ? remote : local, {}};
  links::LinkKey& key = named.key;
  key.client = resolver_.Resolve(named.client_end);
  key.server = resolver_.Resolve(named.server_end);
  key.server_port = client ? s.remote_port : s.local_port;
  key.role = s.role;
  // A Service's ClusterIP, or an address that may be one while the index is
  // incomplete: conntrack says whether NAT sent the connection elsewhere.
  if (client && nat_ && (key.server.kind == "Service" || Provisional(key.server))) {
    // Name the backend the Service NAT really chose; keep the Service as `via`.
    if (nat_cache_.size() > config_.max_connections) nat_cache_.clear();  // lost closes
    auto [it, inserted] = nat_cache_.try_emplace(s.cookie);
    if (inserted)
      it->second = nat_->RealDestination(s.local_ip, s.local_port, s.remote_ip, s.remote_port);
    if (it->second) {
      named.via_end = named.server_end;
      named.server_end = resolve::Endpoint{it->second->ip, it->second->port, s.netns, 0, 0, false};
      key.via_service = std::move(key.server);
      key.via_service_port = s.remote_port;
      key.server = resolver_.Resolve(named.server_end);
      key.server_port = it->second->port;
    }
    if (s.closed) nat_cache_.erase(it);
  }
  return named;
}

void Agent::PollOnce() {
  std::lock_guard lock(poll_mu_);
  auto started = std::chrono::steady_clock::now();
  // Sockets are folded into per-link sums as they stream in: memory follows the
  // number of links, not of sockets.
  std::map<links::LinkKey, links::LinkDelta> per_link;
  std::vector<tracer::ConnectionDelta> held, awaiting = std::exchange(awaiting_dns_, {});
  const auto now = std::chrono::steady_clock::now();
  auto add = [&](const links::LinkKey& key, const links::LinkDelta& delta) {
    auto [it, inserted] = per_link.try_emplace(key);
    if (inserted) it->second.key = key;
    it->second += delta;
  };
  // Provisional names first: named again; folded once final, or held too long.
  for (auto it = provisional_.begin(); it != provisional_.end();) {
    HeldLink& h = it->second;
    links::LinkKey& key = h.named.key;
    if (h.client) key.client = resolver_.Resolve(h.named.client_end);
    if (h.server) key.server = resolver_.Resolve(h.named.server_end);
    if (h.via) key.via_service = resolver_.Resolve(h.named.via_end);
    h.client = Provisional(key.client);
    h.server = Provisional(key.server);
    h.via = key.via_service_port != 0 && Provisional(key.via_service);
    const bool expired = now - h.since > kMaxProvisionalHold;
    if (Provisional(key) && !expired) {
      ++it;
      continue;
    }
    if (Provisional(key)) ++provisional_exported_;
    add(key, h.sum);
    it = provisional_.erase(it);
  }
  auto fold = [&](const tracer::ConnectionDelta& d, bool may_wait) {
    if (d.sent == 0 && d.received == 0 && d.retransmits == 0 && !d.opened && !d.socket.closed)
      return;
    std::optional<Named> named = Resolve(d);
    if (!named) return;
    const links::LinkKey& key = named->key;
    const resolve::Entity& peer = d.socket.role == tracer::Role::kClient ? key.server : key.client;
    if (may_wait && dns_ && peer.kind == "external" && dns_->Pending(d.socket.remote_ip)) {
      held.push_back(d);
      return;
    }
    links::LinkDelta delta;
    delta.key = key;
    delta.Add(d.sent, d.received, d.retransmits, d.opened, d.socket.closed, d.socket.failed,
              d.sockets);
    if (Provisional(key)) {
      auto [it, inserted] = provisional_.try_emplace(key);
      if (!inserted) {
        it->second.sum += delta;
        return;
      }
      if (provisional_.size() <= config_.max_links) {  // bounded like the link table
        it->second = HeldLink{*named,
                              delta,
                              now,
                              Provisional(key.client),
                              Provisional(key.server),
                              key.via_service_port != 0 && Provisional(key.via_service)};
        return;
      }
      provisional_.erase(it);
      ++provisional_exported_;
    }
    add(key, delta);
  };
  for (const tracer::ConnectionDelta& d : awaiting) fold(d, /*may_wait=*/false);
  tracer::PollStats stats =
      tracer_->Poll([&](const tracer::ConnectionDelta& d) { fold(d, /*may_wait=*/true); });
  awaiting_dns_ = std::move(held);
  std::vector<links::LinkDelta> deltas;
  deltas.reserve(per_link.size());
  for (auto& [key, delta] : per_link) deltas.push_back(std::move(delta));
  table_.Apply(deltas, Now());
  close_records_lost_.store(tracer_->tracker_stats().vanished, std::memory_order_relaxed);
  provisional_held_.store(provisional_.size(), std::memory_order_relaxed);
  labels_truncated_.store(resolver_.repairs().truncated, std::memory_order_relaxed);
  labels_invalid_utf8_.store(resolver_.repairs().invalid_utf8, std::memory_order_relaxed);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  last_poll_seconds_ = took;
  poll_seconds_sum_ = poll_seconds_sum_ + took;
  if (polls_++ == 0)
    spdlog::info("agent: first poll done ({} sockets listed), ready", stats.listed);
  ready_ = true;
  spdlog::debug(
      "agent: poll {} took {:.3f} ms, {} sockets listed, {} closed, {} folded closes, {} links "
      "changed",
      polls_.load(), took * 1000, stats.listed, stats.closed, stats.folded, deltas.size());
}

exporter::AgentStatus Agent::Status(bool stages_up) const {
  exporter::AgentStatus s;
  s.max_connections = config_.max_connections;
  s.polls = polls_;
  s.poll_seconds_sum = poll_seconds_sum_;
  s.last_poll_seconds = last_poll_seconds_;
  s.http_requests = http_->RequestCounts();
  s.http_connection_drops = http_->ConnectionDrops();
  s.http_connection_limit = http_->connection_limit();
  s.start_time_seconds = start_time_;
  if (!stages_up) return s;
  const tracer::ProbeInfo& p = tracer_->probe_info();
  s.probe_labels = {{"state_hook", p.state_hook},
                    {"counter_source", p.counter_source},
                    {"close_channel", p.close_channel},
                    {"kernel", p.kernel_release}};
  tracer::KernelCounters k = tracer_->ReadCounters();
  s.kernel_events = {{"opened_client", k[CARETTA_CNT_OPENED_CLIENT]},
                     {"opened_server", k[CARETTA_CNT_OPENED_SERVER]},
                     {"closed", k[CARETTA_CNT_CLOSED]},
                     {"closed_folded", k[CARETTA_CNT_AGGREGATED]},
                     {"failed_connect", k[CARETTA_CNT_FAILED_CONNECT]},
                     {"adopted", k[CARETTA_CNT_ADOPTED]},
                     {"self_skipped", k[CARETTA_CNT_SELF]},
                     {"scrape_client_skipped", self_scrapes_skipped_}};
  s.drops = {{"table_full", k[CARETTA_CNT_DROP_TABLE_FULL]},
             {"storage_alloc", k[CARETTA_CNT_DROP_STORAGE]},
             {"ringbuf_full", k[CARETTA_CNT_DROP_RINGBUF]},
             {"close_record_lost", close_records_lost_.load(std::memory_order_relaxed)},
             // Label values cut to their bound, or repaired to valid UTF-8.
             {"label_value_truncated", labels_truncated_.load(std::memory_order_relaxed)},
             {"label_value_invalid_utf8", labels_invalid_utf8_.load(std::memory_order_relaxed)},
             // Links exported under a provisional name after kMaxProvisionalHold.
             {"provisional_name_exported", provisional_exported_.load(std::memory_order_relaxed)},
             {"state_change_missed", tracer_->MissedStateChanges()}};
  if (dns_) {
    resolve::DnsResolver::Stats dns = dns_->stats();
    s.drops.emplace_back("dns_queue_full", dns.queue_full);
    s.drops.emplace_back("dns_bad_name", dns.bad_names);
  }
  s.loopback_connections = k[CARETTA_CNT_LOOPBACK];
  s.tracked_sockets = tracer_->TrackedSockets();
  s.untracked_sockets = tracer_->UntrackedSockets();
  s.provisional_links = provisional_held_.load(std::memory_order_relaxed);
  tracer::BpfTracer::LostBytes lost = tracer_->LostCloseBytes();
  s.lost_bytes_sent = lost.sent;
  s.lost_bytes_received = lost.received;
  return s;
}

}  // namespace caretta::app
