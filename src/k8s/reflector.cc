#include "k8s/reflector.h"

#include <malloc.h>

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

// Objects and watch events are at most a page or a line; nesting is bounded.
simdjson::dom::parser ObjectParser(const ClientLimits& limits) {
  simdjson::dom::parser parser(std::max(limits.max_page_bytes, limits.max_watch_line_bytes));
  if (parser.allocate(limits.parser_keep_bytes, limits.max_json_depth) != simdjson::SUCCESS)
    throw std::bad_alloc();
  return parser;
}

}  // namespace

bool ListGate::Acquire(const std::function<bool()>& stopping) {
  std::unique_lock lock(mu_);
  while (free_ == 0) {
    if (stopping()) return false;
    cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  --free_;
  return true;
}

void ListGate::Release() {
  {
    std::lock_guard lock(mu_);
    ++free_;
  }
  cv_.notify_one();
}

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
      page_parser_(options_.limits.max_page_bytes + simdjson::SIMDJSON_PADDING),
      parser_(ObjectParser(options_.limits)),
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

void Reflector::NoteSkipped(SkipReason reason, std::string_view what, std::string_view detail) {
  ++stats_.objects_skipped[static_cast<int>(reason)];
  NoteDecodeError(what, detail);
}

void Reflector::NoteBound(Bound bound, std::string_view message) {
  const std::uint64_t n = ++stats_.bound_exceeded[static_cast<int>(bound)];
  if (bound != Bound::kPageBytes) ++stats_.request_errors;
  if (n <= 5 || n % 100 == 0)
    spdlog::warn("k8s: {}: {} (limit {}, {} so far)", resource_.resource, message,
                 kBoundNames[static_cast<int>(bound)], n);
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
      case WatchEnd::kTooLong:
        // Events may be lost with the stream: relist, after a pause (a server that
        // sends it once sends it again).
        {
          std::lock_guard lock(rv_mu_);
          resource_version_.clear();
        }
        if (!SleepFor(backoff_.Next())) return;
        break;
      case WatchEnd::kStopped:
        return;
    }
  }
}

bool Reflector::List() {
  ListGate* gate = options_.list_gate.get();
  if (gate != nullptr && !gate->Acquire([this] { return stopping(); })) return false;
  struct Slot {
    ListGate* gate;
    ~Slot() {
      if (gate != nullptr) gate->Release();
    }
  } slot{gate};
  const ClientLimits& limits = options_.limits;
  const BodyLimits body_limits{limits.max_page_bytes, limits.max_page_bytes,
                               limits.max_error_body_bytes};
  std::vector<Object> items;
  std::string continue_token;
  std::string list_rv;
  std::vector<std::string> versions{api_version_};
  if (api_version_ == resource_.version)
    versions.insert(versions.end(), resource_.fallback_versions.begin(),
                    resource_.fallback_versions.end());
  std::size_t version_index = 0;
  int page_size = std::max(1, limits.page_size);
  int pages = 0;  // requests of this LIST, restarts included: bounded whatever the server says
  for (;;) {
    if (++pages > limits.max_pages) {
      NoteBound(Bound::kListPages, "list failed: more than " + std::to_string(limits.max_pages) +
                                       " pages (a continue token that never ends?)");
      return false;
    }
    std::string path =
        resource_.CollectionPath(versions[version_index]) + "?limit=" + std::to_string(page_size);
    if (!continue_token.empty()) path += "&continue=" + QueryEscape(continue_token);
    HttpResult r = connection_.Get(path, kListTimeout, body_limits);
    if (r.interrupted) return false;
    if (r.too_large) {
      r = HttpResult{};
      ReleaseParserMemory(/*trim=*/true);  // up to max_page_bytes just went
      if (page_size > 1) {
        // Large objects: ask for the same page again, fewer at a time.
        page_size = std::max(1, page_size / 2);
        NoteBound(Bound::kPageBytes, "a list page broke its bound, asking " +
                                         std::to_string(page_size) + " objects per page");
        continue;
      }
      NoteBound(Bound::kPageBytes, "list failed: one object is larger than " +
                                       std::to_string(limits.max_page_bytes) + " bytes");
      return false;
    }
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
    std::string next, error;
    const bool first_page = continue_token.empty();
    std::string page_rv;
    const bool ok = DecodePage(r.body, &items, &page_rv, &next, &error);
    const std::size_t page_bytes = r.body.size();
    r = HttpResult{};  // the page is decoded: its text goes now
    if (page_bytes > limits.parser_keep_bytes) ReleaseParserMemory();
    if (!ok) {
      // The page itself is unusable (cut short, not JSON): the list is not applied
      // half; it is retried with backoff.
      NoteDecodeError("list", error);
      return false;
    }
    if (first_page) list_rv = std::move(page_rv);
    if (items.size() > limits.max_list_objects) {
      NoteBound(Bound::kListObjects,
                "list failed: more than " + std::to_string(limits.max_list_objects) + " objects");
      items = {};
      ReleaseParserMemory(/*trim=*/true);
      return false;
    }
    if (next.empty()) break;
    continue_token = std::move(next);
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

bool Reflector::DecodePage(std::string& body, std::vector<Object>* items, std::string* list_rv,
                           std::string* next, std::string* error) {
  namespace od = simdjson::ondemand;
  // The API client leaves padding capacity past the body; this is a no-op then.
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  // On-demand: the page is walked, not built, so one item the parser would refuse
  // (10,000 nested arrays, a lone surrogate in an annotation) is skipped over as
  // raw text and only that item fails when it is decoded on its own.
  od::document doc;
  simdjson::error_code e = page_parser_.iterate(body.data(), body.size(), body.capacity()).get(doc);
  od::object list;
  if (e == simdjson::SUCCESS) e = doc.get_object().get(list);
  auto fail = [&](simdjson::error_code code) {
    *error = std::string(simdjson::error_message(code)) + ": " + Snippet(body);
    return false;
  };
  if (e != simdjson::SUCCESS) return fail(e);
  for (auto field : list) {
    std::string_view key;
    if ((e = field.unescaped_key().get(key)) != simdjson::SUCCESS) break;
    if (key == "metadata") {
      od::object metadata;
      if ((e = field.value().get_object().get(metadata)) != simdjson::SUCCESS) break;
      for (auto m : metadata) {
        std::string_view mkey, value;
        if ((e = m.unescaped_key().get(mkey)) != simdjson::SUCCESS) break;
        if (mkey != "resourceVersion" && mkey != "continue") continue;
        if (m.value().get_string().get(value) != simdjson::SUCCESS) continue;  // null: none
        (mkey == "continue" ? *next : *list_rv).assign(value);
      }
    } else if (key == "items") {
      od::value value;
      if ((e = field.value().get(value)) != simdjson::SUCCESS) break;
      if (value.is_null()) continue;
      od::array array;
      if ((e = value.get_array().get(array)) != simdjson::SUCCESS) break;
      for (auto item : array) {
        od::object object;
        simdjson::error_code item_error = item.get_object().get(object);
        if (item_error == simdjson::INCORRECT_TYPE) {
          NoteSkipped(SkipReason::kMalformed, "object", "list item is not a JSON object");
          continue;
        }
        std::string_view raw;
        if (item_error == simdjson::SUCCESS) item_error = object.raw_json().get(raw);
        if (item_error != simdjson::SUCCESS) {
          e = item_error;
          break;
        }
        if (auto decoded = DecodeItem(raw, "object")) items->push_back(std::move(*decoded));
      }
      if (e != simdjson::SUCCESS) break;
    }
  }
  if (e != simdjson::SUCCESS) return fail(e);
  return true;
}

std::optional<Object> Reflector::DecodeItem(std::string_view json, std::string_view origin) {
  element item;
  const simdjson::error_code parsed = parser_.parse(json.data(), json.size(), false).get(item);
  if (parsed != simdjson::SUCCESS) {
    NoteSkipped(SkipReason::kInvalidJson, origin,
                std::string(simdjson::error_message(parsed)) + ": " + Snippet(json));
    return std::nullopt;
  }
  std::string error;
  auto object = DecodeObject(resource_.type, resource_.kind, item, &error);
  if (!object) NoteSkipped(SkipReason::kMalformed, origin, error + ": " + Snippet(json));
  return object;
}

void Reflector::ReleaseParserMemory(bool trim) {
  const std::size_t keep = options_.limits.parser_keep_bytes;
  bool released = trim;
  // Fresh parsers: allocate() would keep the document's tape and string buffers.
  if (parser_.capacity() > keep) {
    parser_ = ObjectParser(options_.limits);
    released = true;
  }
  if (page_parser_.capacity() > keep) {
    page_parser_ =
        simdjson::ondemand::parser(options_.limits.max_page_bytes + simdjson::SIMDJSON_PADDING);
    released = true;
  }
  if (pending_.capacity() > keep && pending_.size() <= keep) {
    pending_.shrink_to_fit();
    released = true;
  }
#ifdef __GLIBC__
  // glibc keeps freed blocks below its (dynamic, up to 32 MiB) mmap threshold in the
  // thread's arena; give them back, or one large page stays resident for good.
  if (released) malloc_trim(0);
#else
  (void)released;
#endif
}

Reflector::WatchEnd Reflector::Watch() {
  std::uniform_int_distribution<std::int64_t> spread(options_.watch_timeout.count(),
                                                     2 * options_.watch_timeout.count());
  const std::int64_t timeout_seconds = std::max<std::int64_t>(1, spread(rng_));
  const std::string path =
      resource_.CollectionPath(api_version_) +
      "?watch=1&allowWatchBookmarks=true&resourceVersion=" + QueryEscape(resource_version()) +
      "&timeoutSeconds=" + std::to_string(timeout_seconds);
  const std::size_t max_line = options_.limits.max_watch_line_bytes;
  pending_.clear();
  std::size_t scanned = 0;  // bytes of pending_ known to hold no '\n'
  WatchEnd end = WatchEnd::kClean;
  bool got_data = false;
  bool big_line = false;
  BodyLimits body_limits;
  body_limits.max_error_body_bytes = options_.limits.max_error_body_bytes;
  HttpResult r = connection_.Stream(
      path, std::chrono::seconds(timeout_seconds + 30),
      [&](std::string_view data) {
        if (!got_data) {
          got_data = true;
          backoff_.Reset();  // the server is back and talking
        }
        pending_.reserve(pending_.size() + data.size() + simdjson::SIMDJSON_PADDING);
        pending_.append(data);
        std::size_t start = 0;
        bool stop_stream = false;
        for (;;) {
          std::size_t nl = pending_.find('\n', scanned);
          if (nl == std::string::npos) break;
          if (nl > start) {
            if (nl - start > max_line) {
              // A complete line can arrive in one piece past the bound too.
              end = WatchEnd::kTooLong;
              return false;
            }
            big_line = big_line || nl - start > options_.limits.parser_keep_bytes;
            HandleLine(std::string_view(pending_).substr(start, nl - start), &end, &stop_stream);
          }
          start = scanned = nl + 1;
          if (stop_stream) return false;
        }
        pending_.erase(0, start);
        scanned = pending_.size();
        if (big_line) {
          big_line = false;
          ReleaseParserMemory();  // one large event must not keep its buffers
        }
        if (pending_.size() > max_line) {
          end = WatchEnd::kTooLong;  // an event without end: drop the stream
          return false;
        }
        return true;
      },
      body_limits);
  if (end == WatchEnd::kTooLong) pending_.clear();
  if (big_line || pending_.capacity() > options_.limits.parser_keep_bytes) ReleaseParserMemory();
  if (r.interrupted || stopping()) return WatchEnd::kStopped;
  if (end == WatchEnd::kTooLong) {
    pending_.clear();
    NoteBound(Bound::kWatchLine, "watch event longer than " + std::to_string(max_line) +
                                     " bytes without a newline: dropping the stream, relisting");
    return end;
  }
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
  const simdjson::error_code parsed = parser_.parse(line.data(), line.size(), false).get(event);
  if (parsed != simdjson::SUCCESS) {
    // Too deep, a lone surrogate, not JSON: this event only is lost.
    NoteSkipped(SkipReason::kInvalidJson, "watch event",
                std::string(simdjson::error_message(parsed)) + ": " + Snippet(line));
    return;
  }
  if (!event.is_object()) {
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
    NoteSkipped(SkipReason::kMalformed, "object", error + ": " + Snippet(line));
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
