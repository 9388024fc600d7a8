// PromQL answers from a Prometheus-compatible server (`caretta ui --graph-source
// prometheus=URL`): PrometheusGraphSource queries the server over HTTP and builds
// the /api/graph map from the JSON it gets back. Input: the answers to its queries
// in order, separated by NUL bytes (the last one repeats).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "export/prometheus_graph.h"
#include "scripted_http_server.h"
#include "spdlog/spdlog.h"

namespace {

class Answers {
 public:
  void Start(std::vector<std::string> bodies) {
    std::lock_guard lock(mu_);
    bodies_ = std::move(bodies);
    next_ = 0;
  }
  std::string Answer(const std::string&) {
    std::lock_guard lock(mu_);
    const std::string& body = bodies_[std::min(next_++, bodies_.size() - 1)];
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::size_t next_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Answers answers;
  static caretta::fuzzing::ScriptedHttpServer server(
      [](const std::string& head) { return answers.Answer(head); });
  static caretta::exporter::PrometheusGraphSource source(server.url(), std::chrono::seconds(5));
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> bodies;
  std::size_t start = 0;
  while (bodies.size() < 8) {
    std::size_t nul = input.find('\0', start);
    bodies.emplace_back(input.substr(start, nul == std::string_view::npos ? nul : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  answers.Start(std::move(bodies));
  bool ok = false;
  const std::string json = source.GraphJson(300, &ok);
  if (json.empty()) abort();  // an answer or an error object, always
  return 0;
}
