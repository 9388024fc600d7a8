// A reflector keeps one resource of the cluster mirrored into a sink:
// LIST (paged) → WATCH from the list's resourceVersion with bookmarks → on a clean
// stream end re-WATCH from the last resourceVersion seen; on 410 Gone relist; on
// errors back off exponentially with jitter. Bad JSON is counted and skipped: one
// object a parser refuses costs that object only, never the whole LIST. Everything
// read from the server is bounded (k8s/limits.h).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "k8s/api_client.h"
#include "k8s/limits.h"
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

// Lets at most `slots` reflectors LIST at once (kMaxConcurrentLists).
class ListGate {
 public:
  explicit ListGate(int slots) : free_(slots) {}
  // Waits for a slot; false if `stopping()` turned true first.
  bool Acquire(const std::function<bool()>& stopping);
  void Release();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
};

struct ReflectorOptions {
  ClientLimits limits;  // page size and every size bound
  // Shared by the reflectors of one resolver; nullptr: LIST whenever needed.
  std::shared_ptr<ListGate> list_gate;
  // Each WATCH asks for a random timeoutSeconds in [min, 2*min) so watches of many
  // agents do not end together.
  std::chrono::seconds watch_timeout{300};
  BackoffPolicy backoff;
};

// Why an object (LIST item or watch event) was skipped.
enum class SkipReason { kInvalidJson, kMalformed };
inline constexpr const char* kSkipReasonNames[] = {"invalid_json", "malformed"};
// Which bound of ClientLimits an answer broke.
enum class Bound { kPageBytes, kListPages, kListObjects, kWatchLine };
inline constexpr const char* kBoundNames[] = {"page_bytes", "list_pages", "list_objects",
                                              "watch_line"};

struct ReflectorStats {
  std::atomic<std::uint64_t> added{0}, modified{0}, deleted{0}, bookmarks{0};
  std::atomic<std::uint64_t> resets{0};         // watch restarts (any reason)
  std::atomic<std::uint64_t> relists{0};        // LISTs after the first successful one
  std::atomic<std::uint64_t> decode_errors{0};  // malformed objects, lines or lists skipped
  std::atomic<std::uint64_t> request_errors{0};
  // Objects skipped, by SkipReason: invalid_json (nesting too deep, a lone surrogate,
  // broken escapes: the parser refuses it) or malformed (JSON, but no usable object).
  std::atomic<std::uint64_t> objects_skipped[2] = {};
  // Answers that broke a bound, by Bound. page_bytes counts every page refused (the
  // page is asked again with a smaller limit until one object alone is too large).
  std::atomic<std::uint64_t> bound_exceeded[4] = {};
  std::atomic<bool> synced{false};  // the first LIST reached the sink

  std::uint64_t skipped(SkipReason r) const { return objects_skipped[static_cast<int>(r)].load(); }
  std::uint64_t exceeded(Bound b) const { return bound_exceeded[static_cast<int>(b)].load(); }
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
  enum class WatchEnd { kClean, kGone, kError, kTooLong, kStopped };
  void Run();
  bool List();
  // Decodes one page into *items (objects a parser refuses are skipped and counted);
  // false (with *error) when the page itself is unusable.
  bool DecodePage(std::string& body, std::vector<Object>* items, std::string* list_rv,
                  std::string* next, std::string* error);
  // Decodes one object given as JSON text that has readable padding past its end.
  std::optional<Object> DecodeItem(std::string_view json, std::string_view origin);
  WatchEnd Watch();
  // Handles one complete watch line; sets *end when the stream must stop.
  void HandleLine(std::string_view line, WatchEnd* end, bool* stop_stream);
  bool SleepFor(std::chrono::milliseconds delay);  // false when stopping
  void SetResourceVersion(std::string_view rv);
  void NoteDecodeError(std::string_view what, std::string_view detail);
  void NoteSkipped(SkipReason reason, std::string_view what, std::string_view detail);
  void NoteBound(Bound bound, std::string_view message);
  // Gives back parser buffers grown past limits.parser_keep_bytes, and freed heap
  // memory to the system if anything went (or `trim`).
  void ReleaseParserMemory(bool trim = false);
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
  simdjson::ondemand::parser page_parser_;  // walks a LIST page without building it
  simdjson::dom::parser parser_;            // one object or watch event at a time
  std::string pending_;                     // watch bytes not yet terminated by '\n'
  Backoff backoff_;
  std::mt19937_64 rng_;

  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace caretta::k8s
