// The agent's HTTP face: metrics, health, graph API and the embedded web map.
// Instruments itself (requests by path and code; unknown paths fold into "other"
// so hostile clients cannot inflate label cardinality).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace httplib {
class Server;
}

namespace caretta::exporter {

struct HttpHandlers {
  std::function<std::string()> metrics;
  // (HTTP status, JSON body)
  std::function<std::pair<int, std::string>(double window_seconds)> graph;
  std::function<bool()> ready;
};

class HttpServer {
 public:
  HttpServer(std::string address, std::uint16_t port, std::string metrics_path,
             HttpHandlers handlers);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on a background thread; throws std::runtime_error
  // naming the address when the port cannot be bound.
  void Start();
  void Stop();
  std::uint16_t port() const { return port_; }
  std::vector<std::pair<std::string, std::uint64_t>> RequestCounts() const;

 private:
  void Count(const std::string& path, int status);

  std::string address_;
  std::uint16_t port_;
  std::string metrics_path_;
  HttpHandlers handlers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  mutable std::mutex counts_mu_;
  std::map<std::string, std::uint64_t> counts_;
};

}  // namespace caretta::exporter
