// Memory of /metrics at scale: N links in the link table, S clients scraping at
// once, R rounds; RSS before, at its peak and after, for the agent's streamed
// exposition (`--mode stream`) and, as the baseline measured in the same run,
// the whole text rendered per scrape (`--mode whole`, what the agent did before).
// Runs the real HttpServer on 127.0.0.1 (port 0); one mode per process, so the
// figures do not mix. Prints one line of key=value figures.
//
//   caretta_bench_export --mode stream|whole [--links N] [--scrapers S] [--rounds R]
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "export/http_server.h"
#include "export/metrics.h"
#include "links/link_table.h"

namespace {

using namespace caretta;

std::uint64_t StatusKib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1));
  return 0;
}

void ResetPeakRss() {
  std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM (Linux >= 4.0)
}

// Realistic names: Kubernetes-shaped workloads in 50 namespaces, 300 servers.
void Fill(links::LinkTable& table, int n) {
  std::vector<links::LinkDelta> deltas;
  deltas.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    links::LinkDelta d;
    d.key.client = {"frontend-worker-" + std::to_string(i), "team-" + std::to_string(i % 50),
                    "Deployment", "", "zone-a"};
    d.key.server = {"backend-service-" + std::to_string(i % 300), "team-" + std::to_string(i % 50),
                    "StatefulSet", "", "zone-b"};
    d.key.server_port = static_cast<std::uint16_t>(8000 + i % 7);
    d.key.role = tracer::Role::kClient;
    d.Add(1000 + i, 5000 + i, 0, true, false, false);
    deltas.push_back(std::move(d));
  }
  table.Apply(deltas, 1.0);
}

// GET /metrics over a fresh connection; the body's size, or 0 on failure.
std::size_t Scrape(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::size_t total = 0;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const char req[] = "GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n";
    if (send(fd, req, sizeof req - 1, 0) == static_cast<ssize_t>(sizeof req - 1)) {
      char buf[65536];
      for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) total += static_cast<std::size_t>(n);
    }
  }
  close(fd);
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "stream";
  int links = 20000, scrapers = 4, rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--mode")
      mode = v;
    else if (k == "--links")
      links = std::atoi(v.c_str());
    else if (k == "--scrapers")
      scrapers = std::atoi(v.c_str());
    else if (k == "--rounds")
      rounds = std::atoi(v.c_str());
  }
  if (mode != "stream" && mode != "whole") {
    std::fprintf(stderr, "--mode stream|whole\n");
    return 2;
  }
  // As the agent's main() does, before any thread starts.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  const std::uint64_t rss_start = StatusKib("VmRSS");
  links::LinkTable table(static_cast<std::size_t>(links) + 1);
  Fill(table, links);
  exporter::HttpHandlers handlers{.metrics = {},
                                  .graph = [](double) { return std::make_pair(200, "{}"); },
                                  .ready = [] { return true; }};
  if (mode == "whole") {
    handlers.metrics = [&] { return exporter::RenderMetrics(*table.Snapshot(), {}); };
  } else {
    handlers.metrics_stream = [&] {
      auto s = std::make_shared<exporter::MetricsStream>(table.Snapshot(), exporter::AgentStatus{});
      return [s](std::string& out) { return s->Next(out); };
    };
  }
  exporter::HttpServer server("127.0.0.1", 0, "/metrics", handlers);
  server.Start();
  const std::size_t body = Scrape(server.port());  // warm-up: code paths, arenas
  const std::uint64_t rss_idle = StatusKib("VmRSS");
  ResetPeakRss();
  auto t0 = std::chrono::steady_clock::now();
  std::size_t failed = 0;
  for (int r = 0; r < rounds; ++r) {
    std::vector<std::thread> threads;
    std::vector<std::size_t> got(static_cast<std::size_t>(scrapers));
    for (int s = 0; s < scrapers; ++s)
      threads.emplace_back([&, s] { got[static_cast<std::size_t>(s)] = Scrape(server.port()); });
    for (auto& t : threads) t.join();
    for (std::size_t g : got) failed += g != body;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::uint64_t rss_peak = StatusKib("VmHWM");
  const std::uint64_t rss_after = StatusKib("VmRSS");
  server.Stop();
  std::printf(
      "mode=%s links=%d scrapers=%d rounds=%d body_bytes=%zu failed_scrapes=%zu "
      "rss_start_kib=%llu rss_idle_kib=%llu rss_peak_kib=%llu rss_after_kib=%llu "
      "seconds_per_scrape=%.3f\n",
      mode.c_str(), links, scrapers, rounds, body, failed,
      static_cast<unsigned long long>(rss_start), static_cast<unsigned long long>(rss_idle),
      static_cast<unsigned long long>(rss_peak), static_cast<unsigned long long>(rss_after),
      seconds / rounds);
  return failed ? 1 : 0;
}
