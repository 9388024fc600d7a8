// Plain numbers the agent reports about itself; filled by src/app at scrape time.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace caretta::exporter {

struct AgentStatus {
  std::vector<std::pair<std::string, std::string>> probe_labels;     // caretta_probe_info
  std::vector<std::pair<std::string, std::uint64_t>> kernel_events;  // by event
  std::vector<std::pair<std::string, std::uint64_t>> drops;          // by cause
  std::vector<std::pair<std::string, std::uint64_t>> http_requests;  // "path code" → count
  // HttpServer::ConnectionDrops(): reason → connections the server closed.
  std::vector<std::pair<std::string, std::uint64_t>> http_connection_drops;
  std::uint64_t http_connection_limit = 0;  // HttpServer::connection_limit(); 0 = unknown
  std::uint64_t polls = 0;
  double poll_seconds_sum = 0;
  double last_poll_seconds = 0;
  std::uint64_t tracked_sockets = 0;  // entries in the kernel socket map
  std::uint64_t max_connections = 0;  // its configured bound
  std::uint64_t loopback_connections = 0;
  // Data bytes of sockets whose close record was lost, never reported elsewhere.
  std::uint64_t lost_bytes_sent = 0, lost_bytes_received = 0;
  std::uint64_t untracked_sockets = 0;  // open sockets the last walk could not track
  std::uint64_t provisional_links = 0;  // links held until their names are final
  double start_time_seconds = 0;
};

}  // namespace caretta::exporter
