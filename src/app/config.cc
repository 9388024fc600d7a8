#include "app/config.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "common/ip_address.h"

namespace caretta::app {
namespace {

struct BadValue : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename Int>
Int ParseInt(const std::string& what, const std::string& text, long long lo, long long hi) {
  long long v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < lo || v > hi)
    throw BadValue(what + ": '" + text + "' is not an integer in [" + std::to_string(lo) + ", " +
                   std::to_string(hi) + "]");
  return static_cast<Int>(v);
}

// One setting: a flag with an env fallback, read as text and validated by `apply`.
struct Setting {
  Setting(std::string f, std::string e, std::string h, std::function<void(const std::string&)> a)
      : flag(std::move(f)), env(std::move(e)), help(std::move(h)), apply(std::move(a)) {}
  std::string flag, env, help;
  std::function<void(const std::string&)> apply;
  std::string value;  // filled by CLI11
};

// IP, IP:PORT or [IPv6]:PORT with a port in 1..65535, as c-ares takes it.
bool IsServerAddress(const std::string& v) {
  std::string host = v;
  std::string port;
  if (!v.empty() && v[0] == '[') {
    std::size_t close = v.find(']');
    if (close == std::string::npos) return false;
    host = v.substr(1, close - 1);
    if (close + 1 < v.size()) {
      if (v[close + 1] != ':') return false;
      port = v.substr(close + 2);
      if (port.empty()) return false;
    }
  } else if (std::count(v.begin(), v.end(), ':') == 1) {
    host = v.substr(0, v.find(':'));
    port = v.substr(v.find(':') + 1);
    if (port.empty()) return false;
  }
  if (!common::IpAddress::Parse(host)) return false;
  if (port.empty()) return true;
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  return ec == std::errc() && ptr == port.data() + port.size() && p >= 1 && p <= 65535;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

std::optional<bool> ParseBool(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  return std::nullopt;
}

ParseOutcome ParseConfig(const std::vector<std::string>& args, const EnvLookup& env) {
  ParseOutcome out;
  Config& c = out.config;
  auto boolean = [](const std::string& what, bool* target) {
    return [what, target](const std::string& v) {
      auto b = ParseBool(v);
      if (!b) throw BadValue(what + ": '" + v + "' is not a boolean (true/false/1/0/yes/no)");
      *target = *b;
    };
  };
  std::vector<Setting> settings = {
      {"--prometheus-port", "PROMETHEUS_PORT", "HTTP port for metrics, API and web map (7117)",
       [&](const std::string& v) {
         c.prometheus_port = ParseInt<std::uint16_t>("PROMETHEUS_PORT", v, 1, 65535);
       }},
      {"--prometheus-endpoint", "PROMETHEUS_ENDPOINT", "metrics path (/metrics)",
       [&](const std::string& v) {
         if (v.empty() || v[0] != '/' || v.find_first_of(" ?#\t\n") != std::string::npos ||
             v == "/" || v == "/api/graph" || v == "/healthz" || v == "/readyz")
           throw BadValue("PROMETHEUS_ENDPOINT: '" + v +
                          "' must be a path like /metrics (not /, /api/graph, /healthz, /readyz)");
         c.prometheus_endpoint = v;
       }},
      {"--listen-address", "LISTEN_ADDRESS", "address the HTTP server binds (0.0.0.0)",
       [&](const std::string& v) {
         if (!common::IpAddress::Parse(v))
           throw BadValue("LISTEN_ADDRESS: '" + v +
                          "' is not an IPv4 or IPv6 address (e.g. 0.0.0.0, ::, 127.0.0.1)");
         c.listen_address = v;
       }},
      {"--poll-interval", "POLL_INTERVAL", "seconds between kernel polls (5)",
       [&](const std::string& v) {
         c.poll_interval_seconds = ParseInt<int>("POLL_INTERVAL", v, 1, 3600);
       }},
      {"--resolve-dns", "RESOLVE_DNS", "reverse-resolve external addresses (false)",
       boolean("RESOLVE_DNS", &c.resolve_dns)},
      {"--dns-server", "DNS_SERVER",
       "with RESOLVE_DNS: ask this server (IP, IP:PORT or [IPv6]:PORT) instead of the "
       "system resolver",
       [&](const std::string& v) {
         if (!IsServerAddress(v))
           throw BadValue("DNS_SERVER: '" + v +
                          "' is not IP, IP:PORT or [IPv6]:PORT (port 1-65535)");
         c.dns_server = v;
       }},
      {"--traverse-up-hierarchy", "TRAVERSE_UP_HIERARCHY",
       "name pods after their top controller, e.g. Deployment (true)",
       boolean("TRAVERSE_UP_HIERARCHY", &c.traverse_up_hierarchy)},
      {"--kubeconfig", "KUBECONFIG", "kubeconfig when running outside a cluster",
       [&](const std::string& v) { c.kubeconfig = v; }},
      {"--max-connections", "MAX_CONNECTIONS",
       "sockets tracked at once; bounds kernel memory (65536)",
       [&](const std::string& v) {
         c.max_connections = ParseInt<std::uint32_t>("MAX_CONNECTIONS", v, 16, 4'000'000);
       }},
      {"--max-links", "MAX_LINKS", "links exported before new ones are counted as overflow (20000)",
       [&](const std::string& v) {
         c.max_links = ParseInt<std::uint32_t>("MAX_LINKS", v, 1, 10'000'000);
       }},
      {"--ringbuf-kib", "RINGBUF_KIB",
       "close-event ring buffer size in KiB, power of two, at least 512 (1024)",
       [&](const std::string& v) {
         // The tracer's bounds (TracerConfig::kMin/kMaxRingbufBytes): below 512 KiB a
         // burst of closes overflows it (measured, see there).
         c.ringbuf_kib = ParseInt<std::uint32_t>("RINGBUF_KIB", v, kMinRingbufKib, kMaxRingbufKib);
         if (c.ringbuf_kib & (c.ringbuf_kib - 1))
           throw BadValue("RINGBUF_KIB: '" + v + "' is not a power of two");
       }},
      {"--host-proc", "HOST_PROC", "host procfs mount (/proc)",
       [&](const std::string& v) { c.host_proc = v; }},
      {"--host-cgroup", "HOST_CGROUP",
       "host cgroup v2 mount, maps hostNetwork sockets to pods (/sys/fs/cgroup)",
       [&](const std::string& v) { c.host_cgroup = v; }},
      {"--netns-dir", "NETNS_DIR", "named network namespaces (/var/run/netns)",
       [&](const std::string& v) { c.netns_dir = v; }},
      {"--node-name", "NODE_NAME", "this node's name (hostname)",
       [&](const std::string& v) { c.node_name = v; }},
      {"--log-level", "LOG_LEVEL", "trace, debug, info, warn or error (info)",
       [&](const std::string& v) {
         static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
         if (std::find(std::begin(kLevels), std::end(kLevels), v) == std::end(kLevels))
           throw BadValue("LOG_LEVEL: '" + v + "' is not one of trace, debug, info, warn, error");
         c.log_level = v;
       }},
      {"--conntrack-netns", "CONNTRACK_NETNS",
       "where Service NAT is undone through conntrack: auto (the host namespace), off, or "
       "comma-separated netns paths (auto)",
       [&](const std::string& v) {
         if (v.empty()) throw BadValue("CONNTRACK_NETNS: empty (use auto, off or paths)");
         if (v == "auto" || v == "off") {
           c.conntrack_netns = {
               v == "auto" ? ConntrackNetns::Mode::kAuto : ConntrackNetns::Mode::kOff, {}};
           return;
         }
         ConntrackNetns paths{ConntrackNetns::Mode::kPaths, {}};
         std::stringstream list(v);
         for (std::string p; std::getline(list, p, ',');) {
           if (p.empty()) continue;
           if (p[0] != '/')
             throw BadValue("CONNTRACK_NETNS: '" + v + "' is not auto, off or a list of /paths");
           paths.paths.push_back(p);
         }
         if (paths.paths.empty()) throw BadValue("CONNTRACK_NETNS: '" + v + "' names no path");
         c.conntrack_netns = std::move(paths);
       }},
      {"--graph-source", "GRAPH_SOURCE",
       "where /api/graph comes from: agent, or prometheus=URL for the whole cluster (agent)",
       [&](const std::string& v) {
         const std::string prefix = "prometheus=";
         if (v == "agent") {
           c.graph_prometheus_url.clear();
         } else if (v.rfind(prefix + "http://", 0) == 0 || v.rfind(prefix + "https://", 0) == 0) {
           c.graph_prometheus_url = v.substr(prefix.size());
         } else {
           throw BadValue("GRAPH_SOURCE: '" + v +
                          "' is neither 'agent' nor 'prometheus=http(s)://HOST:PORT'");
         }
       }},
      {"--socket-discovery", "SOCKET_DISCOVERY",
       "how open connections are found: tasks (walk every process's sockets at each poll; "
       "nothing per connection, needs the host PID namespace), open (socket storage from "
       "each connection's open) or auto (tasks in the host PID namespace, else open) (auto)",
       [&](const std::string& v) {
         if (v == "auto")
           c.socket_discovery = SocketDiscovery::kAuto;
         else if (v == "tasks")
           c.socket_discovery = SocketDiscovery::kTasks;
         else if (v == "open")
           c.socket_discovery = SocketDiscovery::kOpen;
         else
           throw BadValue("SOCKET_DISCOVERY: '" + v + "' is not auto, tasks or open");
       }},
      {"--track-loopback", "TRACK_LOOPBACK", "also map loopback connections (false)",
       boolean("TRACK_LOOPBACK", &c.track_loopback)},
      {"--trace-self", "TRACE_SELF", "also map the agent's own connections (false)",
       boolean("TRACE_SELF", &c.trace_self)},
  };

  CLI::App cli{
      "caretta: eBPF service-dependency map agent. Traces every TCP connection on this host\n"
      "(tracepoints only; no kprobes), names both ends (Kubernetes workload, Service, node,\n"
      "external host) and serves Prometheus metrics, /api/graph and a web map.\n"
      "Every flag can also be set by the environment variable shown in [brackets].\n"
      "`caretta ui --graph-source prometheus=URL` serves only the web map, built from\n"
      "PromQL against Prometheus/VictoriaMetrics (the whole cluster), without BPF.",
      "caretta"};
  for (Setting& s : settings) cli.add_option(s.flag, s.value, s.help + " [" + s.env + "]");
  cli.add_flag("--check-config", c.check_config,
               "validate flags and environment, print the effective configuration, exit");

  // `caretta ui ...`: only the web map, fed by a Prometheus-compatible server.
  std::vector<std::string> rest = args;
  if (!rest.empty() && rest.front() == "ui") {
    c.ui_only = true;
    rest.erase(rest.begin());
  }
  std::vector<std::string> reversed(rest.rbegin(), rest.rend());
  try {
    cli.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out.exit_code = 0;
    out.message = cli.help();
    return out;
  } catch (const CLI::ParseError& e) {
    out.exit_code = 2;
    out.message = std::string("caretta: ") + e.what() + "\nRun with --help for usage.";
    return out;
  }
  try {
    for (Setting& s : settings) {
      if (cli.get_option(s.flag)->count() > 0) {
        s.apply(s.value);
      } else if (auto v = env(s.env)) {
        s.apply(*v);
      }
    }
  } catch (const BadValue& e) {
    out.exit_code = 2;
    out.message = std::string("caretta: invalid configuration: ") + e.what();
    return out;
  }
  if (c.ui_only && c.graph_prometheus_url.empty()) {
    out.exit_code = 2;
    out.message =
        "caretta: `caretta ui` needs --graph-source prometheus=URL (e.g. "
        "prometheus=http://127.0.0.1:9090)";
  }
  return out;
}

std::string Describe(const Config& c) {
  static constexpr const char* kDiscovery[] = {"auto", "tasks", "open"};
  std::string conntrack = c.conntrack_netns.mode == ConntrackNetns::Mode::kAuto  ? "auto"
                          : c.conntrack_netns.mode == ConntrackNetns::Mode::kOff ? "off"
                                                                                 : "";
  for (const std::string& p : c.conntrack_netns.paths)
    conntrack += (conntrack.empty() ? "" : ",") + p;
  std::ostringstream o;
  o << "prometheus_port=" << c.prometheus_port << "\n"
    << "prometheus_endpoint=" << c.prometheus_endpoint << "\n"
    << "listen_address=" << c.listen_address << "\n"
    << "poll_interval=" << c.poll_interval_seconds << "\n"
    << "resolve_dns=" << (c.resolve_dns ? "true" : "false") << "\n"
    << "dns_server=" << c.dns_server << "\n"
    << "traverse_up_hierarchy=" << (c.traverse_up_hierarchy ? "true" : "false") << "\n"
    << "kubeconfig=" << c.kubeconfig << "\n"
    << "max_connections=" << c.max_connections << "\n"
    << "max_links=" << c.max_links << "\n"
    << "ringbuf_kib=" << c.ringbuf_kib << "\n"
    << "host_proc=" << c.host_proc << "\n"
    << "netns_dir=" << c.netns_dir << "\n"
    << "host_cgroup=" << c.host_cgroup << "\n"
    << "node_name=" << c.node_name << "\n"
    << "log_level=" << c.log_level << "\n"
    << "track_loopback=" << (c.track_loopback ? "true" : "false") << "\n"
    << "trace_self=" << (c.trace_self ? "true" : "false") << "\n"
    << "socket_discovery=" << kDiscovery[static_cast<int>(c.socket_discovery)] << "\n"
    << "conntrack_netns=" << conntrack << "\n"
    << "graph_source="
    << (c.graph_prometheus_url.empty() ? "agent" : "prometheus=" + c.graph_prometheus_url) << "\n";
  return o.str();
}

}  // namespace caretta::app
