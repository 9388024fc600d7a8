#include "k8s/reflector.h"

#include <algorithm>

#include "spdlog/spdlog.h"

namespace caretta::k8s {
namespace {

using simdjson::dom::element;

constexpr std::chrono::seconds kListTimeout{120};

std::uint64_t SeedFor(const std::string& name) {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ std::hash<std::string>{}(name);
}

std::string Snippet(std::string_view s) {
  std::string out(s.substr(0, 200));
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

// The Status `code` of an error body or ERROR event object (0 if absent).
std::int64_t StatusCode(element status) {
  std::int64_t code = 0;
  if (status["code"].get_int64().get(code) != simdjson::SUCCESS) return 0;
  return code;
}

}  // namespace

std::chrono::milliseconds Backoff::Next() {
  double base = static_cast<double>(policy_.initial.count());
  for (int i = 0; i < attempt_ && base < static_cast<double>(policy_.max.count()); ++i) base *= 2;
  base = std::min(base, static_cast<double>(policy_.max.count()));
  ++attempt_;
  std::uniform_real_distribution<double> jitter(1.0 - policy_.jitter, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(base * jitter(rng_)));
}

Reflector::Reflector(std::shared_ptr<ApiClient> client, WatchedResource resource,
                     ReflectorSink* sink, ReflectorOptions options)
    : client_(client),
      resource_(std::move(resource)),
      sink_(sink),
      options_(options),
      api_version_(resource_.version),
      connection_(client),
      backoff_(options.backoff, SeedFor(resource_.resource)),
      rng_(SeedFor(resource_.resource + "/watch")),
      thread_([this] { Run(); }) {}

Reflector::~Reflector() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  connection_.Interrupt();
  if (thread_.joinable()) thread_.join();
}

std::string Reflector::resource_version() const {
  std::lock_guard lock(rv_mu_);
  return resource_version_;
}

void Reflector::SetResourceVersion(std::string_view rv) {
  if (rv.empty()) return;
  std::lock_guard lock(rv_mu_);
  resource_version_.assign(rv);
}

bool Reflector::SleepFor(std::chrono::milliseconds delay) {
  std::unique_lock lock(stop_mu_);
  return !stop_cv_.wait_for(lock, delay, [this] { return stop_.load(); });
}

void Reflector::NoteDecodeError(std::string_view what, std::string_view detail) {
  const std::uint64_t n = ++stats_.decode_errors;
  // The first few in full, then a reminder now and then: a bad stream must not flood logs.
  if (n <= 5 || n % 1000 == 0) {
    spdlog::warn("k8s: {}: skipped malformed {} ({} so far): {}", resource_.resource, what, n,
                 Snippet(detail));
  }
}

void Reflector::Run() {
  bool listed = false;
  while (!stopping()) {
    if (resource_version().empty()) {
      if (!List()) {
        if (stopping() || !SleepFor(backoff_.Next())) return;
        continue;
      }
      if (listed) ++stats_.relists;
      listed = true;
    }
    WatchEnd end = Watch();
    if (end == WatchEnd::kStopped) return;
    ++stats_.resets;
    switch (end) {
      case WatchEnd::kGone:
        spdlog::info("k8s: {}: resourceVersion {} expired (410), relisting", resource_.resource,
                     resource_version());
        {
          std::lock_guard lock(rv_mu_);
          resource_version_.clear();
        }
        break;
      case WatchEnd::kClean:
        spdlog::debug("k8s: {}: watch ended, re-watching from {}", resource_.resource,
                      resource_version());
        break;
      case WatchEnd::kError:
        if (!SleepFor(backoff_.Next())) return;
        break;
      case WatchEnd::kStopped:
        return;
    }
  }
}

bool Reflector::List() {
  std::vector<Object> items;
  std::string continue_token;
  std::string list_rv;
  std::vector<std::string> versions{api_version_};
  if (api_version_ == resource_.version)
    versions.insert(versions.end(), resource_.fallback_versions.begin(),
                    resource_.fallback_versions.end());
  std::size_t version_index = 0;
  for (;;) {
    std::string path = resource_.CollectionPath(versions[version_index]) +
                       "?limit=" + std::to_string(options_.page_size);
    if (!continue_token.empty()) path += "&continue=" + QueryEscape(continue_token);
    HttpResult r = connection_.Get(path, kListTimeout);
    if (r.interrupted) return false;
    if (!r.error.empty() || r.status != 200) {
      if (r.status == 404 && continue_token.empty() && version_index + 1 < versions.size()) {
        ++version_index;  // e.g. batch/v1beta1 CronJobs on clusters older than 1.21
        continue;
      }
      if (r.status == 410 && !continue_token.empty()) {
        // The continue token expired: start the list over.
        continue_token.clear();
        items.clear();
        continue;
      }
      ++stats_.request_errors;
      spdlog::warn(
          "k8s: {}: list failed: {}", resource_.resource,
          r.error.empty() ? "HTTP " + std::to_string(r.status) + " " + Snippet(r.body) : r.error);
      return false;
    }
    r.body.reserve(r.body.size() + simdjson::SIMDJSON_PADDING);
    element list;
    if (parser_.parse(r.body.data(), r.body.size(), false).get(list) != simdjson::SUCCESS ||
        !list.is_object()) {
      NoteDecodeError("list", r.body);
      return false;
    }
    if (continue_token.empty()) list_rv = ResourceVersionOf(list);
    simdjson::dom::array array;
    if (list["items"].get_array().get(array) == simdjson::SUCCESS) {
      items.reserve(items.size() + array.size());
      for (element item : array) {
        std::string error;
        auto object = DecodeObject(resource_.type, resource_.kind, item, &error);
        if (object) {
          items.push_back(std::move(*object));
        } else {
          NoteDecodeError("object", error + ": " + simdjson::to_string(item));
        }
      }
    } else if (!list["items"].is_null()) {
      NoteDecodeError("list", "items is not an array");
      return false;
    }
    std::string_view next;
    if (list["metadata"]["continue"].get_string().get(next) != simdjson::SUCCESS || next.empty())
      break;
    continue_token.assign(next);
  }
  if (list_rv.empty()) {
    NoteDecodeError("list", "no metadata.resourceVersion");
    return false;
  }
  if (versions[version_index] != api_version_) {
    spdlog::info("k8s: {}: using {} (the API does not serve {})", resource_.resource,
                 versions[version_index], api_version_);
    api_version_ = versions[version_index];
  }
  const std::size_t count = items.size();
  sink_->Replace(resource_, std::move(items));
  SetResourceVersion(list_rv);
  backoff_.Reset();
  if (!stats_.synced.exchange(true))
    spdlog::info("k8s: {}: synced {} objects at resourceVersion {}", resource_.resource, count,
                 list_rv);
  return true;
}

Reflector::WatchEnd Reflector::Watch() {
  std::uniform_int_distribution<std::int64_t> spread(options_.watch_timeout.count(),
                                                     2 * options_.watch_timeout.count());
  const std::int64_t timeout_seconds = std::max<std::int64_t>(1, spread(rng_));
  const std::string path =
      resource_.CollectionPath(api_version_) +
      "?watch=1&allowWatchBookmarks=true&resourceVersion=" + QueryEscape(resource_version()) +
      "&timeoutSeconds=" + std::to_string(timeout_seconds);
  pending_.clear();
  WatchEnd end = WatchEnd::kClean;
  bool got_data = false;
  HttpResult r = connection_.Stream(
      path, std::chrono::seconds(timeout_seconds + 30), [&](std::string_view data) {
        if (!got_data) {
          got_data = true;
          backoff_.Reset();  // the server is back and talking
        }
        pending_.reserve(pending_.size() + data.size() + simdjson::SIMDJSON_PADDING);
        pending_.append(data);
        std::size_t start = 0;
        bool stop_stream = false;
        for (;;) {
          std::size_t nl = pending_.find('\n', start);
          if (nl == std::string::npos) break;
          if (nl > start)
            HandleLine(std::string_view(pending_).substr(start, nl - start), &end, &stop_stream);
          start = nl + 1;
          if (stop_stream) return false;
        }
        pending_.erase(0, start);
        return true;
      });
  if (r.interrupted || stopping()) return WatchEnd::kStopped;
  if (end != WatchEnd::kClean) return end;
  if (r.status == 410) return WatchEnd::kGone;
  if (!pending_.empty()) {
    // The stream ended inside an event: that event was never applied; the re-watch
    // from the last resourceVersion delivers it again.
    NoteDecodeError("watch event (stream cut)", pending_);
    pending_.clear();
    return WatchEnd::kError;
  }
  if (!r.error.empty() || r.status != 200) {
    ++stats_.request_errors;
    spdlog::warn(
        "k8s: {}: watch failed: {}", resource_.resource,
        r.error.empty() ? "HTTP " + std::to_string(r.status) + " " + Snippet(r.body) : r.error);
    return WatchEnd::kError;
  }
  return WatchEnd::kClean;
}

void Reflector::HandleLine(std::string_view line, WatchEnd* end, bool* stop_stream) {
  element event;
  // pending_ reserves SIMDJSON_PADDING bytes past its end, so no copy is needed.
  if (parser_.parse(line.data(), line.size(), false).get(event) != simdjson::SUCCESS ||
      !event.is_object()) {
    NoteDecodeError("watch event", line);
    return;
  }
  std::string_view type;
  element object;
  if (event["type"].get_string().get(type) != simdjson::SUCCESS ||
      event["object"].get(object) != simdjson::SUCCESS) {
    NoteDecodeError("watch event", line);
    return;
  }
  if (type == "BOOKMARK") {
    ++stats_.bookmarks;
    SetResourceVersion(ResourceVersionOf(object));
    return;
  }
  if (type == "ERROR") {
    const std::int64_t code = StatusCode(object);
    *end = code == 410 ? WatchEnd::kGone : WatchEnd::kError;
    if (code != 410)
      spdlog::warn("k8s: {}: watch error event: {}", resource_.resource, Snippet(line));
    *stop_stream = true;
    return;
  }
  const bool added = type == "ADDED", modified = type == "MODIFIED", deleted = type == "DELETED";
  if (!added && !modified && !deleted) {
    NoteDecodeError("watch event type", line);
    return;
  }
  std::string error;
  auto decoded = DecodeObject(resource_.type, resource_.kind, object, &error);
  // A malformed object is skipped for good: its resourceVersion (if readable) still counts.
  if (!decoded) {
    NoteDecodeError("object", error + ": " + std::string(line));
    if (object.is_object()) SetResourceVersion(ResourceVersionOf(object));
    return;
  }
  if (deleted) {
    sink_->Delete(resource_, *decoded);
    ++stats_.deleted;
  } else {
    sink_->Upsert(resource_, std::move(*decoded));
    ++(added ? stats_.added : stats_.modified);
  }
  SetResourceVersion(ResourceVersionOf(object));
}

}  // namespace caretta::k8s
