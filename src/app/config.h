// Agent configuration: flags, each with the environment variable Caretta uses (a
// flag wins over its variable). Bad values are errors (exit code 2), never a
// silent default.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace caretta::app {

// How live sockets are found (SOCKET_DISCOVERY); see tracer::Discovery.
enum class SocketDiscovery : std::uint8_t { kAuto, kTasks, kOpen };

// Where Service NAT is undone through conntrack (CONNTRACK_NETNS).
struct ConntrackNetns {
  enum class Mode : std::uint8_t { kAuto, kOff, kPaths };
  Mode mode = Mode::kAuto;         // kAuto: the host namespace, HOST_PROC/1/ns/net
  std::vector<std::string> paths;  // kPaths: these namespaces
};

// RINGBUF_KIB's range: the tracer's own (tested to agree).
inline constexpr std::uint32_t kMinRingbufKib = 512;
inline constexpr std::uint32_t kMaxRingbufKib = 1u << 20;

struct Config {
  std::uint16_t prometheus_port = 7117;
  std::string prometheus_endpoint = "/metrics";
  std::string listen_address = "0.0.0.0";
  int poll_interval_seconds = 5;
  bool resolve_dns = false;
  std::string dns_server;  // "" = the system resolver; else IP[:PORT] for PTR queries
  bool traverse_up_hierarchy = true;
  std::string kubeconfig;
  std::uint32_t max_connections = 65536;
  std::uint32_t max_links = 20000;
  std::uint32_t ringbuf_kib = 1024;
  std::string host_proc = "/proc";
  std::string netns_dir = "/var/run/netns";
  std::string host_cgroup = "/sys/fs/cgroup";
  std::string node_name;
  std::string log_level = "info";
  bool track_loopback = false;
  bool trace_self = false;
  SocketDiscovery socket_discovery = SocketDiscovery::kAuto;
  ConntrackNetns conntrack_netns;
  // GRAPH_SOURCE: empty for the agent's own links, else the Prometheus URL of
  // "prometheus=URL" (the whole cluster's map from PromQL).
  std::string graph_prometheus_url;
  bool ui_only = false;  // `caretta ui`: web map from the Prometheus source, no BPF
  bool check_config = false;
};

// Environment lookup, injectable so tests never touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

struct ParseOutcome {
  Config config;
  // -1: go on; otherwise exit with this code after printing `message`
  // (to stdout for --help, to stderr for errors).
  int exit_code = -1;
  std::string message;
};

ParseOutcome ParseConfig(const std::vector<std::string>& args, const EnvLookup& env);

// Effective configuration as `key=value` lines, keys named like the environment
// variables in lower case (for --check-config; the Helm tests read them).
std::string Describe(const Config& config);

// Strict boolean: true/false/1/0/yes/no/on/off, any case.
std::optional<bool> ParseBool(std::string text);

}  // namespace caretta::app
