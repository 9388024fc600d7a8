#include "export/http_server.h"

#include <httplib.h>

#include <charconv>
#include <optional>
#include <stdexcept>

#include "spdlog/spdlog.h"
#ifdef CARETTA_HAVE_UI
#include "ui_assets.h"
#endif

namespace caretta::exporter {
namespace {

constexpr double kDefaultWindow = 300;
constexpr double kMaxWindow = 86400;

// Parses ?window=SECONDS; nullopt when malformed or out of range.
std::optional<double> ParseWindow(const std::string& text) {
  if (text.empty()) return kDefaultWindow;
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !(v > 0) || v > kMaxWindow)
    return std::nullopt;
  return v;
}

}  // namespace

HttpServer::HttpServer(std::string address, std::uint16_t port, std::string metrics_path,
                       HttpHandlers handlers)
    : address_(std::move(address)),
      port_(port),
      metrics_path_(std::move(metrics_path)),
      handlers_(std::move(handlers)),
      server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Count(const std::string& path, int status) {
  std::lock_guard lock(counts_mu_);
  ++counts_[path + " " + std::to_string(status)];
}

std::vector<std::pair<std::string, std::uint64_t>> HttpServer::RequestCounts() const {
  std::lock_guard lock(counts_mu_);
  return {counts_.begin(), counts_.end()};
}

void HttpServer::Start() {
  httplib::Server& s = *server_;
  // Bounded resources against slow or hostile clients.
  s.set_payload_max_length(64 * 1024);
  s.set_read_timeout(5, 0);
  s.set_write_timeout(10, 0);
  s.set_keep_alive_max_count(100);
  // Browsers keep up to six idle connections open; short keep-alive and enough
  // workers so idle ones never starve a new request.
  s.set_keep_alive_timeout(2);
  s.new_task_queue = [] { return new httplib::ThreadPool(8); };

  s.Get(metrics_path_, [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(handlers_.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    bool ready = handlers_.ready();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ready\n" : "not ready\n", "text/plain");
  });
  s.Get("/api/graph", [this](const httplib::Request& req, httplib::Response& res) {
    auto window = ParseWindow(req.get_param_value("window"));
    if (!window) {
      res.status = 400;
      res.set_content("{\"error\":\"window must be a number of seconds in (0, 86400]\"}",
                      "application/json");
      return;
    }
    auto [status, body] = handlers_.graph(*window);
    res.status = status;
    res.set_content(body, "application/json");
  });
#ifdef CARETTA_HAVE_UI
  s.Get(R"(/[A-Za-z0-9._\-/]*)", [](const httplib::Request& req, httplib::Response& res) {
    const caretta::ui::Asset* asset = caretta::ui::FindAsset(req.path);
    if (!asset) {
      res.status = 404;
      res.set_content("not found\n", "text/plain");
      return;
    }
    res.set_content(std::string(asset->body), std::string(asset->content_type));
  });
#endif
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    static const char* kKnown[] = {"/healthz",    "/readyz", "/api/graph", "/",
                                   "/index.html", "/app.js", "/app.css"};
    std::string path = "other";
    if (req.path == metrics_path_) path = metrics_path_;
    for (const char* k : kKnown)
      if (req.path == k) path = k;
    Count(path, res.status);
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty())
      res.set_content("error " + std::to_string(res.status) + "\n", "text/plain");
  });

  if (port_ == 0) {
    int bound = s.bind_to_any_port(address_);
    if (bound < 0) throw std::runtime_error("cannot bind HTTP server on " + address_);
    port_ = static_cast<std::uint16_t>(bound);
  } else if (!s.bind_to_port(address_, port_)) {
    throw std::runtime_error("cannot bind HTTP server on " + address_ + ":" +
                             std::to_string(port_) + " (port in use?)");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  spdlog::info("http: serving {} /healthz /readyz /api/graph / on {}:{}", metrics_path_, address_,
               port_);
}

void HttpServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace caretta::exporter
