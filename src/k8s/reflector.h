// A reflector keeps one resource of the cluster mirrored into a sink:
// LIST (paged) → WATCH from the list's resourceVersion with bookmarks → on a clean
// stream end re-WATCH from the last resourceVersion seen; on 410 Gone relist; on
// errors back off exponentially with jitter. Bad JSON is counted and skipped.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "k8s/api_client.h"
#include "k8s/objects.h"
#include "k8s/resources.h"

namespace caretta::k8s {

// Receives a resource's objects; called from that resource's reflector thread only.
class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  // The complete current set after a (re)list.
  virtual void Replace(const WatchedResource& resource, std::vector<Object> objects) = 0;
  virtual void Upsert(const WatchedResource& resource, Object object) = 0;
  virtual void Delete(const WatchedResource& resource, const Object& object) = 0;
};

struct BackoffPolicy {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30000};
  double jitter = 0.5;  // each delay is scaled by a random factor in [1-jitter, 1]
};

// Exponential backoff with jitter; deterministic for a given seed.
class Backoff {
 public:
  Backoff(BackoffPolicy policy, std::uint64_t seed) : policy_(policy), rng_(seed) {}
  std::chrono::milliseconds Next();
  void Reset() { attempt_ = 0; }

 private:
  BackoffPolicy policy_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

struct ReflectorOptions {
  int page_size = 500;
  // Each WATCH asks for a random timeoutSeconds in [min, 2*min) so watches of many
  // agents do not end together.
  std::chrono::seconds watch_timeout{300};
  BackoffPolicy backoff;
};

struct ReflectorStats {
  std::atomic<std::uint64_t> added{0}, modified{0}, deleted{0}, bookmarks{0};
  std::atomic<std::uint64_t> resets{0};         // watch restarts (any reason)
  std::atomic<std::uint64_t> relists{0};        // LISTs after the first successful one
  std::atomic<std::uint64_t> decode_errors{0};  // malformed objects, lines or lists skipped
  std::atomic<std::uint64_t> request_errors{0};
  std::atomic<bool> synced{false};  // the first LIST reached the sink
};

class Reflector {
 public:
  // Starts the thread. `sink` must outlive the reflector.
  Reflector(std::shared_ptr<ApiClient> client, WatchedResource resource, ReflectorSink* sink,
            ReflectorOptions options = {});
  ~Reflector();  // interrupts the request in flight and joins
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  const WatchedResource& resource() const { return resource_; }
  const ReflectorStats& stats() const { return stats_; }
  std::string resource_version() const;

 private:
  enum class WatchEnd { kClean, kGone, kError, kStopped };
  void Run();
  bool List();
  WatchEnd Watch();
  // Handles one complete watch line; sets *end when the stream must stop.
  void HandleLine(std::string_view line, WatchEnd* end, bool* stop_stream);
  bool SleepFor(std::chrono::milliseconds delay);  // false when stopping
  void SetResourceVersion(std::string_view rv);
  void NoteDecodeError(std::string_view what, std::string_view detail);
  bool stopping() const { return stop_.load(); }

  std::shared_ptr<ApiClient> client_;
  WatchedResource resource_;
  ReflectorSink* sink_;
  ReflectorOptions options_;
  ReflectorStats stats_;
  std::string api_version_;  // the version that answered (may be a fallback)

  mutable std::mutex rv_mu_;
  std::string resource_version_;

  ApiConnection connection_;
  simdjson::dom::parser parser_;
  std::string pending_;  // watch bytes not yet terminated by '\n'
  Backoff backoff_;
  std::mt19937_64 rng_;

  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace caretta::k8s
