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
  // How live sockets are found: auto, tasks (walk processes' sockets each poll) or
  // open (socket storage from each connection's open). See tracer::Discovery.
  std::string socket_discovery = "auto";
  // Namespaces whose conntrack table undoes Service NAT: "auto" = the host's root
  // namespace (HOST_PROC/1/ns/net), "off", or a comma-separated list of paths.
  std::string conntrack_netns = "auto";
  std::string graph_source = "agent";  // or "prometheus=URL"
  bool ui_only = false;                // `caretta ui`: web map from graph_source, no BPF
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

// The Prometheus URL of a "prometheus=URL" graph source, "" for the agent's own.
std::string PrometheusGraphUrl(const Config& config);

// Strict boolean: true/false/1/0/yes/no/on/off, any case.
std::optional<bool> ParseBool(std::string text);

}  // namespace caretta::app
