// HTTPS access to the Kubernetes API with libcurl. One ApiClient per cluster (shared
// by threads: config and bearer token), one ApiConnection per thread (a curl handle
// kept alive between requests). Every call can be interrupted from another thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "k8s/kube_config.h"

namespace caretta::k8s {

// The bearer token: static, or read from a file that is re-read when its mtime,
// size or inode changes and on demand after a 401.
class TokenSource {
 public:
  TokenSource(std::string static_token, std::string token_file);
  std::string Current();
  // Forces a re-read; returns true if the token changed.
  bool Reload();

 private:
  bool ReadLocked();
  std::mutex mu_;
  std::string token_;
  std::string file_;
  struct timespec mtime_ {};
  off_t size_ = -1;
  ino_t inode_ = 0;
};

class ApiClient {
 public:
  explicit ApiClient(ClusterConfig config);
  const ClusterConfig& config() const { return config_; }
  TokenSource& tokens() { return tokens_; }

 private:
  ClusterConfig config_;
  TokenSource tokens_;
};

struct HttpResult {
  long status = 0;    // HTTP status; 0 when no answer arrived
  std::string body;   // the whole body for Get(); for Stream() only a non-200 body
  std::string error;  // transport error (connect, TLS, cut stream), empty if none
  bool interrupted = false;
  // The answer broke a size bound and the transfer was aborted (`error` says which);
  // `body` then holds only what arrived before.
  bool too_large = false;
};

// Size bounds of one request. Bodies of non-200 answers are always capped at
// max_error_body_bytes (the rest is not read).
struct BodyLimits {
  std::size_t max_body_bytes = 8u << 20;  // Get(): the 200 body after decompression
  std::size_t max_wire_bytes = 8u << 20;  // Get(): the 200 body as received (compressed)
  std::size_t max_error_body_bytes = 64u << 10;
};

class ApiConnection {
 public:
  explicit ApiConnection(std::shared_ptr<ApiClient> client);
  ~ApiConnection();
  ApiConnection(const ApiConnection&) = delete;
  ApiConnection& operator=(const ApiConnection&) = delete;

  // GET `path` (with query). Retries once after re-reading the token on a 401. A body
  // past `limits` aborts the transfer (too_large).
  HttpResult Get(const std::string& path, std::chrono::seconds timeout,
                 const BodyLimits& limits = {});
  // GET `path` and hand each received (decompressed) piece of a 200 body to `on_data`
  // as it comes; `on_data` returning false ends the transfer. The consumer bounds
  // what it keeps; only the error body is capped here.
  HttpResult Stream(const std::string& path, std::chrono::seconds timeout,
                    const std::function<bool(std::string_view)>& on_data,
                    const BodyLimits& limits = {});

  // Thread-safe: the running call returns promptly, later calls return at once.
  void Interrupt();

 private:
  HttpResult Perform(const std::string& path, std::chrono::seconds timeout,
                     const std::function<bool(std::string_view)>* on_data,
                     const BodyLimits& limits);
  HttpResult PerformOnce(const std::string& path, std::chrono::seconds timeout,
                         const std::function<bool(std::string_view)>* on_data,
                         const BodyLimits& limits);

  std::shared_ptr<ApiClient> client_;
  void* easy_ = nullptr;   // CURL*
  void* multi_ = nullptr;  // CURLM*, lets Interrupt() wake a blocked poll
  std::atomic<bool> interrupted_{false};
};

// URL-encodes a query value.
std::string QueryEscape(std::string_view value);

}  // namespace caretta::k8s
