#include "export/metrics.h"

#include <cstdio>
#include <map>
#include <set>

#include "export/prometheus_text.h"

namespace caretta::exporter {
namespace {

std::uint32_t Fnv1a(std::initializer_list<std::string_view> parts) {
  std::uint32_t h = 2166136261u;
  for (std::string_view p : parts) {
    for (unsigned char c : p) h = (h ^ c) * 16777619u;
    h = (h ^ 0u) * 16777619u;
  }
  return h;
}

// The label set Caretta gives every link series.
struct LinkLabels {
  std::string link_id, client_id, server_id, port, role, service_port;
  std::vector<Label> labels;
  // Caretta's exact label set, plus the Service the client addressed when asked.
  LinkLabels(const links::LinkKey& k, bool with_service) {
    client_id = std::to_string(EntityId(k.client));
    server_id = std::to_string(EntityId(k.server));
    link_id = std::to_string(
        Fnv1a({k.client.name, k.client.namespace_, k.server.name, k.server.namespace_}) +
        static_cast<std::uint32_t>(k.role));
    port = std::to_string(k.server_port);
    role = std::to_string(static_cast<int>(k.role));
    labels = {{"link_id", link_id},
              {"client_id", client_id},
              {"client_name", k.client.name},
              {"client_namespace", k.client.namespace_},
              {"client_kind", k.client.kind},
              {"client_owner", k.client.owner},
              {"server_id", server_id},
              {"server_name", k.server.name},
              {"server_namespace", k.server.namespace_},
              {"server_kind", k.server.kind},
              {"server_port", port},
              {"role", role}};
    if (with_service) {
      labels.emplace_back("service_name", k.via_service.name);
      labels.emplace_back("service_namespace", k.via_service.namespace_);
      service_port = k.via_service_port ? std::to_string(k.via_service_port) : "";
      labels.emplace_back("service_port", service_port);
    }
  }
};

void AppendJsonString(std::string& out, std::string_view s) {
  // Hand-written: simdjson (our JSON library) only parses.
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string NodeId(const resolve::Entity& e) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "n-%08x", Fnv1a({e.name, e.namespace_, e.kind}));
  return buf;
}

std::string Number(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

std::uint32_t EntityId(const resolve::Entity& e) { return Fnv1a({e.name, e.namespace_}); }

namespace {

// Our own per-link families, in the order they are written.
struct PerLinkFamily {
  std::string_view name, type, help;
  std::uint64_t (*value_of)(const links::LinkTotals&);
};
constexpr PerLinkFamily kPerLinkFamilies[] = {
    {"caretta_link_bytes_sent_total", "counter",
     "bytes sent by the observing end of the link (data only, exact)",
     [](const links::LinkTotals& x) { return x.bytes_sent; }},
    {"caretta_link_bytes_received_total", "counter",
     "bytes received by the observing end of the link (data only, exact)",
     [](const links::LinkTotals& x) { return x.bytes_received; }},
    {"caretta_link_connections_opened_total", "counter", "TCP connections opened on the link",
     [](const links::LinkTotals& x) { return x.connections_opened; }},
    {"caretta_link_active_connections", "gauge", "TCP connections open now on the link",
     [](const links::LinkTotals& x) { return static_cast<std::uint64_t>(x.active_connections); }},
    {"caretta_link_retransmits_total", "counter", "TCP segments retransmitted on the link",
     [](const links::LinkTotals& x) { return x.retransmits; }},
};
constexpr int kPerLinkCount = sizeof kPerLinkFamilies / sizeof kPerLinkFamilies[0];

// Equal in the link map's own order (<=>), but for the Service addressed.
bool SameCarettaLink(const links::LinkKey& a, const links::LinkKey& b) {
  return std::tie(a.client, a.server, a.server_port, a.role) <=>
             std::tie(b.client, b.server, b.server_port, b.role) ==
         0;
}

// Everything after the per-link families: small, written in one piece.
void WriteRest(PrometheusText& t, const links::LinkSnapshot& snap, const AgentStatus& status) {
  t.Family("caretta_link_failed_connects_total", "counter",
           "connects that never reached ESTABLISHED (refused, timed out, reset)");
  for (const auto& [k, n] : snap.failed_connects) {
    std::string port = std::to_string(k.server_port);
    t.Sample("caretta_link_failed_connects_total",
             {{"client_name", k.client.name},
              {"client_namespace", k.client.namespace_},
              {"client_kind", k.client.kind},
              {"server_name", k.server.name},
              {"server_namespace", k.server.namespace_},
              {"server_kind", k.server.kind},
              {"server_port", port}},
             n);
  }
  t.Family("caretta_link_zone_bytes_total", "counter",
           "bytes between zones (client view; empty zone = unknown)");
  for (const auto& [zones, n] : snap.zone_bytes)
    t.Sample("caretta_link_zone_bytes_total",
             {{"client_zone", zones.first}, {"server_zone", zones.second}}, n);

  t.Family("caretta_links", "gauge", "links currently exported");
  t.Sample("caretta_links", {}, static_cast<std::uint64_t>(snap.links.size()));
  t.Family("caretta_links_over_cap_total", "counter",
           "socket deltas not folded because the link table reached --max-links");
  t.Sample("caretta_links_over_cap_total", {}, snap.links_over_cap);
  t.Family("caretta_links_over_cap_bytes_total", "counter", "bytes of those deltas");
  t.Sample("caretta_links_over_cap_bytes_total", {}, snap.bytes_over_cap);

  t.Family("caretta_probe_info", "gauge", "kernel hooks in use (value is always 1)");
  {
    std::vector<Label> l;
    for (const auto& [k, v] : status.probe_labels) l.emplace_back(k, v);
    t.Sample("caretta_probe_info", l, std::uint64_t{1});
  }
  t.Family("caretta_kernel_events_total", "counter", "TCP events seen by the BPF programs");
  for (const auto& [event, n] : status.kernel_events)
    t.Sample("caretta_kernel_events_total", {{"event", event}}, n);
  t.Family("caretta_dropped_total", "counter", "connections or records lost, by cause");
  for (const auto& [cause, n] : status.drops)
    t.Sample("caretta_dropped_total", {{"cause", cause}}, n);
  t.Family("caretta_loopback_connections_total", "counter",
           "loopback sockets seen and excluded from links");
  t.Sample("caretta_loopback_connections_total", {}, status.loopback_connections);
  t.Family("caretta_lost_bytes_total", "counter",
           "data bytes of sockets whose close record was lost (ring buffer full): counted "
           "here, in no link");
  t.Sample("caretta_lost_bytes_total", {{"direction", "sent"}}, status.lost_bytes_sent);
  t.Sample("caretta_lost_bytes_total", {{"direction", "received"}}, status.lost_bytes_received);
  t.Family("caretta_provisional_links", "gauge",
           "links held back because a name is provisional (Kubernetes index incomplete)");
  t.Sample("caretta_provisional_links", {}, status.provisional_links);
  t.Family("caretta_untracked_sockets", "gauge",
           "open sockets the last walk met and could not track (table full)");
  t.Sample("caretta_untracked_sockets", {}, status.untracked_sockets);
  t.Family("caretta_tracked_sockets", "gauge", "sockets in the kernel socket map");
  t.Sample("caretta_tracked_sockets", {}, status.tracked_sockets);
  t.Family("caretta_tracked_sockets_max", "gauge", "bound on tracked sockets (--max-connections)");
  t.Sample("caretta_tracked_sockets_max", {}, status.max_connections);
  t.Family("caretta_polls_total", "counter", "kernel map polls completed");
  t.Sample("caretta_polls_total", {}, status.polls);
  t.Family("caretta_poll_duration_seconds", "summary", "time spent polling the kernel");
  t.Sample("caretta_poll_duration_seconds_sum", {}, status.poll_seconds_sum);
  t.Sample("caretta_poll_duration_seconds_count", {}, status.polls);
  t.Family("caretta_last_poll_duration_seconds", "gauge", "duration of the last poll");
  t.Sample("caretta_last_poll_duration_seconds", {}, status.last_poll_seconds);
  t.Family("caretta_http_requests_total", "counter", "HTTP requests served, by path and code");
  for (const auto& [path_code, n] : status.http_requests) {
    auto space = path_code.rfind(' ');
    std::string path = path_code.substr(0, space), code = path_code.substr(space + 1);
    t.Sample("caretta_http_requests_total", {{"path", path}, {"code", code}}, n);
  }
  t.Family("caretta_http_connections_dropped_total", "counter",
           "HTTP connections the agent closed, by reason (limit, head_deadline, "
           "response_deadline, keepalive_idle, bad_head)");
  for (const auto& [reason, n] : status.http_connection_drops)
    t.Sample("caretta_http_connections_dropped_total", {{"reason", reason}}, n);
  if (status.http_connection_limit) {
    t.Family("caretta_http_connection_limit", "gauge",
             "concurrent HTTP connections allowed (fewer when file descriptors are short)");
    t.Sample("caretta_http_connection_limit", {}, status.http_connection_limit);
  }
  t.Family("caretta_start_time_seconds", "gauge", "agent start time (unix seconds)");
  t.Sample("caretta_start_time_seconds", {}, status.start_time_seconds);
}

}  // namespace

MetricsStream::MetricsStream(std::shared_ptr<const links::LinkSnapshot> snapshot,
                             AgentStatus status, std::string tail)
    : snap_(std::move(snapshot)), status_(std::move(status)), tail_(std::move(tail)) {
  // Caretta's two metrics keep exactly Caretta's labels: links that differ only by
  // the Service the client addressed are summed; the state is open if any is. Such
  // keys are neighbours in the map (the Service fields order last).
  for (const auto& [key, totals] : snap_->links) {
    if (caretta_view_.empty() || !SameCarettaLink(*caretta_view_.back().key, key))
      caretta_view_.push_back({&key, 0, links::LinkState::kClosed});
    CarettaLink& c = caretta_view_.back();
    c.bytes_sent += totals.bytes_sent;
    if (totals.state != links::LinkState::kClosed) c.state = totals.state;
  }
}

bool MetricsStream::Next(std::string& out, std::size_t at_least) {
  const std::size_t before = out.size();
  PrometheusText t;
  while (t.str().size() < at_least && stage_ != Stage::kDone) {
    switch (stage_) {
      case Stage::kCarettaObserved:
      case Stage::kCarettaStates: {
        const bool observed = stage_ == Stage::kCarettaObserved;
        const std::string_view name = observed ? "caretta_links_observed" : "caretta_tcp_states";
        if (!family_started_) {
          family_started_ = true;
          t.Family(name, "gauge",
                   observed ? "total bytes_sent value of links observed by caretta since its launch"
                            : "state of TCP connections observed by caretta since its launch (3 "
                              "open, 4 accepted, 5 closed)");
        }
        for (; index_ < caretta_view_.size() && t.str().size() < at_least; ++index_) {
          const CarettaLink& c = caretta_view_[index_];
          LinkLabels labels(*c.key, /*with_service=*/false);
          t.Sample(name, labels.labels,
                   observed ? c.bytes_sent : static_cast<std::uint64_t>(c.state));
        }
        if (index_ == caretta_view_.size()) {
          stage_ = observed ? Stage::kCarettaStates : Stage::kPerLink;
          index_ = 0;
          family_started_ = false;
        }
        break;
      }
      case Stage::kPerLink: {
        // Our own per-link series also name the Service (service_name, ...).
        const PerLinkFamily& f = kPerLinkFamilies[family_];
        if (!family_started_) {
          family_started_ = true;
          t.Family(f.name, f.type, f.help);
          link_ = snap_->links.begin();
        }
        for (; link_ != snap_->links.end() && t.str().size() < at_least; ++link_) {
          LinkLabels labels(link_->first, /*with_service=*/true);
          t.Sample(f.name, labels.labels, f.value_of(link_->second));
        }
        if (link_ == snap_->links.end()) {
          family_started_ = false;
          if (++family_ == kPerLinkCount) stage_ = Stage::kRest;
        }
        break;
      }
      case Stage::kRest:
        WriteRest(t, *snap_, status_);
        stage_ = Stage::kDone;
        break;
      case Stage::kDone:
        break;
    }
  }
  out += t.str();
  if (stage_ == Stage::kDone && !tail_.empty()) {
    out += tail_;
    tail_.clear();
    tail_.shrink_to_fit();
  }
  return out.size() > before;
}

std::string RenderMetrics(const links::LinkSnapshot& snap, const AgentStatus& status) {
  // Not owned: the caller keeps `snap` alive for this call.
  MetricsStream stream(std::shared_ptr<const links::LinkSnapshot>(&snap, [](auto*) {}), status);
  std::string text;
  while (stream.Next(text)) {
  }
  return text;
}

std::string RenderGraphJson(const links::LinkSnapshot& snap, double window_seconds, double now,
                            std::string_view source) {
  struct Edge {
    const resolve::Entity* client;
    const resolve::Entity* server;
    std::uint16_t port;
    bool have_client_view = false;
    std::uint64_t c2s = 0, s2c = 0, connections = 0, failed = 0, retransmits = 0;
    std::int64_t active = 0;
    double rate = 0;
    const resolve::Entity* via_service = nullptr;
  };
  std::map<std::tuple<resolve::Entity, resolve::Entity, std::uint16_t>, Edge> edges;
  std::map<std::string, const resolve::Entity*> nodes;
  for (const auto& [k, t] : snap.links) {
    Edge& e = edges[{k.client, k.server, k.server_port}];
    e.client = &k.client;
    e.server = &k.server;
    e.port = k.server_port;
    nodes.emplace(NodeId(k.client), &k.client);
    nodes.emplace(NodeId(k.server), &k.server);
    if (!k.via_service.name.empty()) e.via_service = &k.via_service;
    bool client_view = k.role == tracer::Role::kClient;
    // Prefer the client's view when both ends were observed (they agree on bytes).
    if (client_view || !e.have_client_view) {
      e.c2s = client_view ? t.bytes_sent : t.bytes_received;
      e.s2c = client_view ? t.bytes_received : t.bytes_sent;
      e.connections = t.connections_opened;
      e.active = t.active_connections;
      e.retransmits = t.retransmits;
      e.rate = links::RateOver(t, window_seconds, now);
      e.have_client_view = client_view;
    }
  }
  for (const auto& [k, n] : snap.failed_connects) {
    Edge& e = edges[{k.client, k.server, k.server_port}];
    e.client = &k.client;
    e.server = &k.server;
    e.port = k.server_port;
    e.failed = n;
    nodes.emplace(NodeId(k.client), &k.client);
    nodes.emplace(NodeId(k.server), &k.server);
  }
  std::string out = "{\"generated_at\":" + Number(now) +
                    ",\"window_seconds\":" + Number(window_seconds) + ",\"source\":";
  AppendJsonString(out, source);
  out += ",\"nodes\":[";
  bool first = true;
  for (const auto& [id, e] : nodes) {
    if (!first) out += ',';
    first = false;
    out += "{\"id\":";
    AppendJsonString(out, id);
    out += ",\"name\":";
    AppendJsonString(out, e->name);
    out += ",\"namespace\":";
    AppendJsonString(out, e->namespace_);
    out += ",\"kind\":";
    AppendJsonString(out, e->kind);
    out += ",\"owner\":";
    AppendJsonString(out, e->owner);
    out += ",\"zone\":";
    AppendJsonString(out, e->zone);
    out += '}';
  }
  out += "],\"edges\":[";
  first = true;
  for (const auto& [key, e] : edges) {
    if (!first) out += ',';
    first = false;
    std::string src = NodeId(*e.client), dst = NodeId(*e.server);
    char id[32];
    std::snprintf(id, sizeof id, "e-%08x", Fnv1a({src, dst, std::to_string(e.port)}));
    out += "{\"id\":";
    AppendJsonString(out, id);
    out += ",\"source\":";
    AppendJsonString(out, src);
    out += ",\"target\":";
    AppendJsonString(out, dst);
    out += ",\"server_port\":" + std::to_string(e.port);
    out += ",\"bytes_client_to_server\":" + std::to_string(e.c2s);
    out += ",\"bytes_server_to_client\":" + std::to_string(e.s2c);
    out += ",\"rate_bytes_per_second\":" + Number(e.rate);
    out += ",\"connections\":" + std::to_string(e.connections);
    out += ",\"active_connections\":" + std::to_string(e.active);
    out += ",\"failed_connects\":" + std::to_string(e.failed);
    out += ",\"retransmits\":" + std::to_string(e.retransmits);
    out += ",\"service\":";
    AppendJsonString(
        out, e.via_service ? e.via_service->namespace_ + "/" + e.via_service->name : std::string());
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace caretta::exporter
