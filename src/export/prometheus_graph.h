// Builds the /api/graph map from PromQL against any Prometheus-compatible server
// (Prometheus, VictoriaMetrics), so one agent or `caretta ui` can show the whole
// cluster: every agent's series are summed per (client, server, port, role).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "links/link_table.h"

namespace caretta::exporter {

class PrometheusGraphSource {
 public:
  explicit PrometheusGraphSource(std::string base_url,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~PrometheusGraphSource();

  // The graph as JSON; on a failed or malformed query a JSON error object and
  // `ok` = false (the caller answers 502). Counts failures.
  std::string GraphJson(double window_seconds, bool* ok);
  std::uint64_t failures() const { return failures_; }

  // The snapshot that the queries describe (exposed for tests).
  std::optional<links::LinkSnapshot> Query(double window_seconds, std::string* error);

 private:
  std::optional<std::string> Get(const std::string& promql, std::string* error);

  std::string base_url_;
  std::chrono::milliseconds timeout_;
  std::mutex curl_mu_;  // one easy handle, reused
  void* curl_ = nullptr;
  std::uint64_t failures_ = 0;
};

}  // namespace caretta::exporter
