// The agent: wires tracer → resolvers → link table → exporters. Owns every stage;
// no globals, so two agents can live in one process (tests).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "app/config.h"
#include "export/agent_status.h"
#include "export/http_server.h"
#include "export/prometheus_graph.h"
#include "links/link_table.h"
#include "resolve/chain.h"
#include "resolve/conntrack_nat.h"
#include "resolve/dns_resolver.h"
#include "resolve/k8s_resolver.h"
#include "tracer/bpf_tracer.h"

namespace caretta::app {

// `caretta ui`: the web map and /api/graph from a Prometheus-compatible server,
// without BPF (runs anywhere, e.g. on a laptop against the cluster's VictoriaMetrics).
class UiServer {
 public:
  explicit UiServer(const Config& config);  // starts serving; throws on bind failure
  void Stop() { http_->Stop(); }
  std::uint16_t http_port() const { return http_->port(); }

 private:
  exporter::PrometheusGraphSource source_;
  std::unique_ptr<exporter::HttpServer> http_;
};

class Agent {
 public:
  explicit Agent(Config config);  // starts HTTP, loads BPF; throws on failure
  ~Agent();                       // stops polling, detaches probes
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  void PollOnce();  // one poll (the loop calls it every interval)
  void Stop();
  std::uint16_t http_port() const { return http_->port(); }
  std::shared_ptr<const links::LinkSnapshot> Links() const { return table_.Snapshot(); }

 private:
  void Loop();
  // What the agent says of itself; the stages' figures only once they are up.
  exporter::AgentStatus Status(bool stages_up) const;
  // A link's key with the endpoints its two ends were named from.
  struct Named {
    links::LinkKey key;
    resolve::Endpoint client_end, server_end;
    resolve::Endpoint via_end;  // the address the client dialled, when NAT was undone
  };
  // The link a socket's change belongs to; nullopt for sockets not to be mapped.
  std::optional<Named> Resolve(const tracer::ConnectionDelta& delta);
  // A name that may still change: the Kubernetes index had not listed what it
  // depends on (Entity::incomplete), or had no pods yet for an address it left to
  // the host or the IP.
  bool Provisional(const resolve::Entity& e) const;
  bool Provisional(const links::LinkKey& k) const {
    return Provisional(k.client) || Provisional(k.server) ||
           (k.via_service_port != 0 && Provisional(k.via_service));
  }

  Config config_;
  std::string hostname_;
  double start_time_ = 0;
  links::LinkTable table_;
  std::unique_ptr<tracer::BpfTracer> tracer_;
  resolve::ChainResolver resolver_;
  std::shared_ptr<resolve::DnsResolver> dns_;
  std::shared_ptr<resolve::KubernetesResolver> k8s_;  // null without a cluster
  std::unique_ptr<resolve::ConntrackNat> nat_;        // null when off
  // Per client socket: where its Service connection really went (nullopt: no NAT).
  std::unordered_map<std::uint64_t, std::optional<resolve::Destination>> nat_cache_;
  std::unique_ptr<exporter::PrometheusGraphSource> graph_source_;  // --graph-source prometheus=
  // The agent's own addresses: connections to (one of them, the HTTP port) are
  // scrapes of this agent, excluded from links unless --trace-self.
  std::vector<common::IpAddress> own_addresses_;
  std::atomic<std::uint64_t> self_scrapes_skipped_{0};
  // Socket changes whose external peer had its reverse-DNS lookup under way: folded
  // one poll later, so the link gets the name instead of a short-lived IP twin.
  std::vector<tracer::ConnectionDelta> awaiting_dns_;
  // Links whose name is provisional: their changes summed and held (the kernel
  // keeps counting, nothing is lost) until the name is final, so that no wrong
  // series is exported and outlives the fix. After kMaxProvisionalHold (a
  // resource that never lists, e.g. RBAC) they are exported as named, counted.
  static constexpr std::chrono::minutes kMaxProvisionalHold{5};
  struct HeldLink {
    Named named;
    links::LinkDelta sum;
    std::chrono::steady_clock::time_point since;
    // Which ends were provisional when held: named again until the index is
    // complete (a host name, say, is final only once the index is).
    bool client = false, server = false, via = false;
  };
  std::map<links::LinkKey, HeldLink> provisional_;
  std::atomic<std::uint64_t> provisional_exported_{0}, provisional_held_{0};

  std::mutex poll_mu_;  // one poll at a time
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> polls_{0};
  std::atomic<double> poll_seconds_sum_{0}, last_poll_seconds_{0};

  // Set (release) once every stage the HTTP handlers read — tracer_, k8s_, dns_ —
  // exists; handlers read none of them before (acquire). They never change after.
  std::atomic<bool> stages_up_{false};
  // Tracker figures the poll thread publishes for the HTTP threads.
  std::atomic<std::uint64_t> close_records_lost_{0};
  std::atomic<std::uint64_t> labels_truncated_{0}, labels_invalid_utf8_{0};

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread loop_;
  // Last member: destroyed first, so no handler outlives what it reads, even when
  // the constructor throws half-way.
  std::unique_ptr<exporter::HttpServer> http_;
};

}  // namespace caretta::app
