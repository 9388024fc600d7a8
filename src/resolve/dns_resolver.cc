#include "resolve/dns_resolver.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <cstring>

namespace caretta::resolve {

std::optional<std::string> SystemReverseLookup(const common::IpAddress& ip) {
  sockaddr_storage ss{};
  socklen_t len;
  if (ip.is_v4()) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    std::memcpy(&a->sin_addr, ip.bytes().data(), 4);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    std::memcpy(&a->sin6_addr, ip.bytes().data(), 16);
    len = sizeof *a;
  }
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, nullptr, 0,
                  NI_NAMEREQD) != 0)
    return std::nullopt;
  return std::string(host);
}

std::optional<std::string> NormalizeHostName(std::string_view answer) {
  constexpr std::size_t kMaxName = 253, kMaxLabel = 63;
  if (!answer.empty() && answer.back() == '.') answer.remove_suffix(1);
  if (answer.empty() || answer.size() > kMaxName) return std::nullopt;
  std::string name;
  name.reserve(answer.size());
  std::size_t label = 0;
  for (char c : answer) {
    if (c == '.') {
      if (label == 0) return std::nullopt;  // empty label: "a..b", ".a"
      label = 0;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') {
      if (++label > kMaxLabel) return std::nullopt;
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      return std::nullopt;
    }
    name += c;
  }
  return name;
}

DnsResolver::DnsResolver(Options options, Lookup lookup)
    : options_(options), lookup_(lookup ? std::move(lookup) : SystemReverseLookup) {
  thread_ = std::thread([this] { Loop(); });
}

DnsResolver::~DnsResolver() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::optional<Entity> DnsResolver::Resolve(const Endpoint& endpoint) {
  if (endpoint.is_local) return std::nullopt;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  ++stats_.lookups;
  if (auto it = cache_.find(endpoint.ip); it != cache_.end() && it->second.expires > now) {
    ++stats_.hits;
    if (!it->second.name) return std::nullopt;
    return Entity{*it->second.name, "external", "external", "", ""};
  }
  if (queued_.contains(endpoint.ip)) return std::nullopt;
  if (queue_.size() >= options_.max_queue) {
    ++stats_.queue_full;
    return std::nullopt;
  }
  queue_.push_back(endpoint.ip);
  queued_.insert(endpoint.ip);
  cv_.notify_one();
  return std::nullopt;
}

void DnsResolver::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    common::IpAddress ip = queue_.front();
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    std::optional<std::string> answer = lookup_(ip);
    std::optional<std::string> name = answer ? NormalizeHostName(*answer) : std::nullopt;
    lock.lock();
    busy_ = false;
    queued_.erase(ip);
    if (answer && !name) ++stats_.bad_names;
    if (!name) ++stats_.failures;
    if (cache_.size() >= options_.max_cache && !cache_.contains(ip)) {
      cache_.erase(cache_.begin());  // any entry: bounded memory matters, not LRU order
      ++stats_.cache_evictions;
    }
    auto ttl = name ? options_.positive_ttl : options_.negative_ttl;
    cache_[ip] = Entry{std::move(name), std::chrono::steady_clock::now() + ttl};
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

void DnsResolver::Drain() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] { return stop_ || (queue_.empty() && !busy_); });
}

bool DnsResolver::Pending(const common::IpAddress& ip) const {
  std::lock_guard lock(mu_);
  return queued_.contains(ip);
}

DnsResolver::Stats DnsResolver::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace caretta::resolve
