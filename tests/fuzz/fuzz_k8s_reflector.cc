// LIST pages and watch event framing, through a real Reflector talking HTTP to a
// scripted API server on loopback: the pages answer the reflector's paged LIST
// (metadata.continue decides whether it asks for the next one), then the watch
// chunks are sent as HTTP chunks of one watch stream (a chunk may end anywhere
// inside an event line), then the stream ends. The next request ends the run.
// Input: one byte choosing the watched resource, then sections separated by NUL
// bytes; a section starting with 'L' is a LIST page, with 'W' a watch chunk.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "k8s/api_client.h"
#include "k8s/cluster_store.h"
#include "k8s/reflector.h"
#include "k8s/resources.h"
#include "scripted_http_server.h"
#include "spdlog/spdlog.h"

using namespace caretta;

namespace {

struct Script {
  std::vector<std::string> pages;
  std::vector<std::string> watch_chunks;
};

// The API server's side: LIST requests get the pages in order, the first WATCH the
// chunks; any request past the script marks the run done.
class ApiScript {
 public:
  void Start(Script script) {
    std::lock_guard lock(mu_);
    script_ = std::move(script);
    lists_ = watches_ = 0;
    done_ = false;
  }
  bool WaitDone(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return done_cv_.wait_for(lock, timeout, [this] { return done_; });
  }
  std::string Answer(const std::string& head) {
    const bool watch = head.find("watch=1") != std::string::npos;
    std::lock_guard lock(mu_);
    if (watch && watches_ == 0) {
      ++watches_;
      return fuzzing::ScriptedHttpServer::Chunked(script_.watch_chunks);
    }
    if (!watch && lists_ < script_.pages.size()) {
      return fuzzing::ScriptedHttpServer::Chunked(
          std::vector<std::string>{script_.pages[lists_++]});
    }
    done_ = true;
    done_cv_.notify_all();
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  }

 private:
  std::mutex mu_;
  std::condition_variable done_cv_;
  Script script_;
  std::size_t lists_ = 0, watches_ = 0;
  bool done_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // malformed input is logged; not needed here
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<k8s::WatchedResource> resources = k8s::WatchedResources();
  static ApiScript api;
  static fuzzing::ScriptedHttpServer server(
      [](const std::string& head) { return api.Answer(head); });
  static const auto client = [] {
    k8s::ClusterConfig config;
    config.server = server.url();
    config.source = "fuzz";
    return std::make_shared<k8s::ApiClient>(config);
  }();
  if (size < 1) return 0;
  const k8s::WatchedResource& resource = resources[data[0] % resources.size()];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  Script script;
  std::size_t start = 0;
  while (start <= input.size() && script.pages.size() < 4 && script.watch_chunks.size() < 64) {
    std::size_t nul = input.find('\0', start);
    if (nul == std::string_view::npos) nul = input.size();
    std::string_view section = input.substr(start, nul - start);
    if (section.starts_with('L')) script.pages.emplace_back(section.substr(1));
    if (section.starts_with('W')) script.watch_chunks.emplace_back(section.substr(1));
    start = nul + 1;
  }
  if (script.pages.empty()) return 0;
  api.Start(std::move(script));

  k8s::ClusterStore store;
  k8s::ReflectorOptions options;
  options.limits.page_size = 2;
  options.backoff.initial = options.backoff.max = std::chrono::milliseconds(1);
  {
    k8s::Reflector reflector(client, resource, &store, options);
    // A reflector that stops asking is a hang: libFuzzer's -timeout (10 s in
    // run_fuzzer.sh) reports it first. A shorter limit here mistook a loaded
    // machine (2 cores, 30 executions/s) for a hang.
    api.WaitDone(std::chrono::seconds(60));
  }
  store.Read([](const k8s::ClusterContents& contents) { return contents.pods.size(); });
  return 0;
}
