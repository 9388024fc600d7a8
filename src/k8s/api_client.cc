#include "k8s/api_client.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "k8s/limits.h"

namespace caretta::k8s {
namespace {

// Strips the trailing newline a token file usually has.
std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && (s[start] == ' ' || s[start] == '\t')) ++start;
  return s.substr(start);
}

struct TransferState {
  const std::function<bool(std::string_view)>* on_data = nullptr;
  const BodyLimits* limits = nullptr;
  CURL* easy = nullptr;
  long status = 0;
  std::string body;
  bool stopped_by_consumer = false;
  bool error_body_cut = false;  // a non-200 body reached its cap: the rest is not read
  std::string too_large;        // which bound a 200 body broke
};

// Receives the body after libcurl's decompression (CURLOPT_ACCEPT_ENCODING), so the
// cap here bounds the inflated size whatever the compression ratio; returning less
// than `n` aborts the transfer at once.
size_t WriteCallback(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  const size_t n = size * count;
  if (state->status == 0) curl_easy_getinfo(state->easy, CURLINFO_RESPONSE_CODE, &state->status);
  if (state->status == 200) {
    if (state->on_data != nullptr) {
      if (!(*state->on_data)(std::string_view(data, n))) {
        state->stopped_by_consumer = true;
        return 0;
      }
      return n;
    }
    if (state->body.size() + n > state->limits->max_body_bytes) {
      state->too_large = "body larger than " + std::to_string(state->limits->max_body_bytes) +
                         " bytes after decompression";
      return 0;
    }
    // Spare capacity past the end lets a JSON parser read its padding in place.
    constexpr std::size_t kParserPadding = 64;
    if (state->body.capacity() < state->body.size() + n + kParserPadding)
      state->body.reserve(
          std::max(2 * state->body.capacity(), state->body.size() + n + kParserPadding));
    state->body.append(data, n);
    return n;
  }
  const std::size_t room = state->limits->max_error_body_bytes - state->body.size();
  if (n > room) {
    state->body.append(data, room);
    state->error_body_cut = true;
    return 0;
  }
  state->body.append(data, n);
  return n;
}

// Bounds the compressed bytes of a Get() body as they arrive (a gzip stream can also
// grow without producing output, e.g. an endless header comment).
int ProgressCallback(void* user, curl_off_t /*dltotal*/, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* state = static_cast<TransferState*>(user);
  if (state->on_data == nullptr && dlnow > 0 &&
      static_cast<std::size_t>(dlnow) > state->limits->max_wire_bytes) {
    state->too_large =
        "body larger than " + std::to_string(state->limits->max_wire_bytes) + " bytes on the wire";
    return 1;  // aborts the transfer
  }
  return 0;
}

}  // namespace

TokenSource::TokenSource(std::string static_token, std::string token_file)
    : token_(std::move(static_token)), file_(std::move(token_file)) {
  std::lock_guard lock(mu_);
  if (!file_.empty()) ReadLocked();
}

bool TokenSource::ReadLocked() {
  std::ifstream in(file_, std::ios::binary);
  if (!in) return false;
  // A token is a few KiB (a JWT); a file past the bound is not a token.
  std::string text(kMaxTokenFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxTokenFileBytes) return false;
  std::string fresh = Trim(std::move(text));
  struct stat st {};
  if (stat(file_.c_str(), &st) == 0) {
    mtime_ = st.st_mtim;
    size_ = st.st_size;
    inode_ = st.st_ino;
  }
  if (fresh.empty()) return false;  // a file caught mid-rewrite: keep the old token
  bool changed = fresh != token_;
  token_ = std::move(fresh);
  return changed;
}

std::string TokenSource::Current() {
  std::lock_guard lock(mu_);
  if (!file_.empty()) {
    struct stat st {};
    if (stat(file_.c_str(), &st) == 0 &&
        (st.st_mtim.tv_sec != mtime_.tv_sec || st.st_mtim.tv_nsec != mtime_.tv_nsec ||
         st.st_size != size_ || st.st_ino != inode_)) {
      ReadLocked();
    }
  }
  return token_;
}

bool TokenSource::Reload() {
  std::lock_guard lock(mu_);
  return !file_.empty() && ReadLocked();
}

ApiClient::ApiClient(ClusterConfig config)
    : config_(std::move(config)), tokens_(config_.token, config_.token_file) {
  // Thread-safe on curl ≥ 7.84; calling it more than once is harmless.
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

ApiConnection::ApiConnection(std::shared_ptr<ApiClient> client) : client_(std::move(client)) {
  easy_ = curl_easy_init();
  multi_ = curl_multi_init();
  if (easy_ == nullptr || multi_ == nullptr) throw std::runtime_error("curl: init failed");
}

ApiConnection::~ApiConnection() {
  if (easy_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(easy_));
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void ApiConnection::Interrupt() {
  interrupted_ = true;
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
}

HttpResult ApiConnection::Get(const std::string& path, std::chrono::seconds timeout,
                              const BodyLimits& limits) {
  return Perform(path, timeout, nullptr, limits);
}

HttpResult ApiConnection::Stream(const std::string& path, std::chrono::seconds timeout,
                                 const std::function<bool(std::string_view)>& on_data,
                                 const BodyLimits& limits) {
  return Perform(path, timeout, &on_data, limits);
}

HttpResult ApiConnection::Perform(const std::string& path, std::chrono::seconds timeout,
                                  const std::function<bool(std::string_view)>* on_data,
                                  const BodyLimits& limits) {
  HttpResult r = PerformOnce(path, timeout, on_data, limits);
  // A rotated token: re-read the file once and retry with the new one.
  if (r.status == 401 && client_->tokens().Reload())
    r = PerformOnce(path, timeout, on_data, limits);
  return r;
}

HttpResult ApiConnection::PerformOnce(const std::string& path, std::chrono::seconds timeout,
                                      const std::function<bool(std::string_view)>* on_data,
                                      const BodyLimits& limits) {
  HttpResult result;
  if (interrupted_) {
    result.interrupted = true;
    result.error = "interrupted";
    return result;
  }
  const ClusterConfig& cfg = client_->config();
  CURL* easy = static_cast<CURL*>(easy_);
  CURLM* multi = static_cast<CURLM*>(multi_);
  curl_easy_reset(easy);  // keeps the connection cache, drops per-request options

  TransferState state;
  state.on_data = on_data;
  state.limits = &limits;
  state.easy = easy;
  const std::string url = cfg.server + path;
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &WriteCallback);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &ProgressCallback);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &state);
  // A Content-Length past the bound fails before any body is read.
  if (on_data == nullptr)
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(limits.max_wire_bytes));
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(easy, CURLOPT_TIMEOUT, static_cast<long>(timeout.count()));
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");  // gzip when the server offers it
  curl_easy_setopt(easy, CURLOPT_USERAGENT, "caretta-cpp/0.1");

  curl_blob ca_blob{};
  curl_blob cert_blob{};
  curl_blob key_blob{};
  if (cfg.insecure_skip_tls_verify) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!cfg.ca_pem.empty()) {
    ca_blob = {const_cast<char*>(cfg.ca_pem.data()), cfg.ca_pem.size(), CURL_BLOB_NOCOPY};
    curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &ca_blob);
  } else if (!cfg.ca_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_CAINFO, cfg.ca_file.c_str());
  }
  if (!cfg.client_cert_pem.empty()) {
    cert_blob = {const_cast<char*>(cfg.client_cert_pem.data()), cfg.client_cert_pem.size(),
                 CURL_BLOB_NOCOPY};
    curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &cert_blob);
    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (!cfg.client_cert_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLCERT, cfg.client_cert_file.c_str());
  }
  if (!cfg.client_key_pem.empty()) {
    key_blob = {const_cast<char*>(cfg.client_key_pem.data()), cfg.client_key_pem.size(),
                CURL_BLOB_NOCOPY};
    curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &key_blob);
    curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (!cfg.client_key_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_SSLKEY, cfg.client_key_file.c_str());
  }

  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  const std::string token = client_->tokens().Current();
  if (!token.empty())
    headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers_guard(headers, curl_slist_free_all);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);

  curl_multi_add_handle(multi, easy);
  CURLcode code = CURLE_OK;
  for (;;) {
    int running = 0;
    if (curl_multi_perform(multi, &running) != CURLM_OK) {
      code = CURLE_FAILED_INIT;
      break;
    }
    int queued = 0;
    bool done = false;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        code = msg->data.result;
        done = true;
      }
    }
    if (done || running == 0) break;
    if (interrupted_) {
      result.interrupted = true;
      break;
    }
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    if (interrupted_) {
      result.interrupted = true;
      break;
    }
  }
  curl_multi_remove_handle(multi, easy);

  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  result.status = state.status != 0 ? state.status : status;
  result.body = std::move(state.body);
  if (result.interrupted) {
    result.error = "interrupted";
  } else if (!state.too_large.empty() ||
             (code == CURLE_FILESIZE_EXCEEDED && result.status == 200)) {
    result.too_large = true;
    result.error = !state.too_large.empty()
                       ? state.too_large
                       : "body larger than " + std::to_string(limits.max_wire_bytes) +
                             " bytes (Content-Length)";
  } else if (code != CURLE_OK && !(state.stopped_by_consumer && code == CURLE_WRITE_ERROR) &&
             !(state.error_body_cut && code == CURLE_WRITE_ERROR)) {
    result.error = curl_easy_strerror(code);
  }
  return result;
}

std::string QueryEscape(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace caretta::k8s
