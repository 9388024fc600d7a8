#include "export/prometheus_graph.h"

#include <curl/curl.h>
#include <simdjson.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <limits>

#include "export/metrics.h"
#include "spdlog/spdlog.h"

namespace caretta::exporter {
namespace {

constexpr const char* kBy =
    "client_name,client_namespace,client_kind,client_owner,server_name,server_namespace,"
    "server_kind,server_port,role";

std::size_t Append(char* data, std::size_t size, std::size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * n > (64u << 20)) return 0;  // refuse absurd answers
  body->append(data, size * n);
  return size * n;
}

std::string Label(simdjson::dom::object metric, const char* name) {
  std::string_view v;
  if (metric[name].get(v) != simdjson::SUCCESS) return "";
  return std::string(v);
}

// Sample values as counts. Prometheus answers NaN, +Inf and negative values (a
// recording rule, a counter reset in increase()), and converting those, or anything
// past the integer's range, to an integer is undefined: clamp them first.
std::uint64_t ToCount(double v) {
  if (!(v > 0)) return 0;  // NaN, zero, negative
  if (v >= 18446744073709551616.0) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(v);
}

std::int64_t ToGauge(double v) {
  if (!(v > 0)) return 0;  // NaN, zero, negative (a connection count is never below 0)
  if (v >= 9223372036854775808.0) return std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(v);
}

}  // namespace

PrometheusGraphSource::PrometheusGraphSource(std::string base_url,
                                             std::chrono::milliseconds timeout)
    : base_url_(std::move(base_url)), timeout_(timeout), curl_(curl_easy_init()) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
}

PrometheusGraphSource::~PrometheusGraphSource() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::optional<std::string> PrometheusGraphSource::Get(const std::string& promql,
                                                      std::string* error) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (!curl) {
    *error = "libcurl initialisation failed";
    return std::nullopt;
  }
  char* escaped = curl_easy_escape(curl, promql.c_str(), static_cast<int>(promql.size()));
  std::string url = base_url_ + "/api/v1/query?query=" + escaped;
  curl_free(escaped);
  std::string body;
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK) {
    *error = std::string("querying ") + base_url_ + ": " + curl_easy_strerror(rc);
    return std::nullopt;
  }
  if (status != 200) {
    *error = "querying " + base_url_ + ": HTTP " + std::to_string(status);
    return std::nullopt;
  }
  return body;
}

std::optional<links::LinkSnapshot> PrometheusGraphSource::Query(double window, std::string* error) {
  const std::string w = std::to_string(static_cast<long long>(window)) + "s";
  const std::string by = std::string("sum by (") + kBy + ") ";
  struct Column {
    std::string promql;
    std::uint64_t links::LinkTotals::*field;
  };
  // One query per figure; the last gives the increase over the window for rates.
  const std::vector<Column> columns = {
      {by + "(caretta_link_bytes_sent_total)", &links::LinkTotals::bytes_sent},
      {by + "(caretta_link_bytes_received_total)", &links::LinkTotals::bytes_received},
      {by + "(caretta_link_connections_opened_total)", &links::LinkTotals::connections_opened},
      {by + "(caretta_link_retransmits_total)", &links::LinkTotals::retransmits},
  };
  links::LinkSnapshot snap;
  double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  snap.taken_at = now;
  simdjson::dom::parser parser;

  auto for_each_series = [&](const std::string& promql, auto on_series) -> bool {
    std::lock_guard lock(curl_mu_);
    auto body = Get(promql, error);
    if (!body) return false;
    simdjson::dom::element doc;
    if (parser.parse(*body).get(doc) != simdjson::SUCCESS) {
      *error = "malformed JSON from " + base_url_;
      return false;
    }
    std::string_view status;
    simdjson::dom::array result;
    if (doc["status"].get(status) != simdjson::SUCCESS || status != "success" ||
        doc["data"]["result"].get(result) != simdjson::SUCCESS) {
      *error = "unexpected answer from " + base_url_ + " for " + promql;
      return false;
    }
    for (simdjson::dom::element series : result) {
      simdjson::dom::object metric;
      simdjson::dom::array value;
      std::string_view number;
      if (series["metric"].get(metric) != simdjson::SUCCESS ||
          series["value"].get(value) != simdjson::SUCCESS || value.size() != 2 ||
          value.at(1).get(number) != simdjson::SUCCESS)
        continue;
      links::LinkKey key;
      key.client = {Label(metric, "client_name"), Label(metric, "client_namespace"),
                    Label(metric, "client_kind"), Label(metric, "client_owner"), ""};
      key.server = {Label(metric, "server_name"), Label(metric, "server_namespace"),
                    Label(metric, "server_kind"), "", ""};
      // A port label that is not a port (out of range, not a number) is port 0.
      const std::string port = Label(metric, "server_port");
      std::uint16_t port_number = 0;
      if (std::from_chars(port.data(), port.data() + port.size(), port_number).ptr !=
          port.data() + port.size())
        port_number = 0;
      key.server_port = port_number;
      std::string role = Label(metric, "role");
      key.role = role == "1"   ? tracer::Role::kClient
                 : role == "2" ? tracer::Role::kServer
                               : tracer::Role::kUnknown;
      on_series(key, std::strtod(std::string(number).c_str(), nullptr));
    }
    return true;
  };

  for (const Column& c : columns) {
    bool ok = for_each_series(c.promql, [&](const links::LinkKey& key, double v) {
      snap.links[key].*(c.field) = ToCount(v);
    });
    if (!ok) return std::nullopt;
  }
  bool ok = for_each_series(by + "(caretta_link_active_connections)",
                            [&](const links::LinkKey& key, double v) {
                              if (auto it = snap.links.find(key); it != snap.links.end())
                                it->second.active_connections = ToGauge(v);
                            });
  // Rate over the window: two history samples, (now - window, total - increase)
  // and (now, total), so the agent's own rate code answers the same way.
  ok = ok && for_each_series(by + "(increase(caretta_link_bytes_sent_total[" + w +
                                 "]) + increase(caretta_link_bytes_received_total[" + w + "]))",
                             [&](const links::LinkKey& key, double v) {
                               auto it = snap.links.find(key);
                               if (it == snap.links.end()) return;
                               links::LinkTotals& t = it->second;
                               std::uint64_t total = t.bytes_sent + t.bytes_received;
                               std::uint64_t inc = ToCount(v);
                               t.history[0] = {now - window, total > inc ? total - inc : 0};
                               t.history[1] = {now, total};
                               t.history_len = 2;
                             });
  ok = ok && for_each_series(
                 "sum by (client_name,client_namespace,client_kind,server_name,server_namespace,"
                 "server_kind,server_port) (caretta_link_failed_connects_total)",
                 [&](const links::LinkKey& key, double v) {
                   snap.failed_connects[{key.client, key.server, key.server_port}] = ToCount(v);
                 });
  if (!ok) return std::nullopt;
  return snap;
}

std::string PrometheusGraphSource::GraphJson(double window, bool* ok) {
  std::string error;
  auto snap = Query(window, &error);
  if (!snap) {
    ++failures_;
    *ok = false;
    spdlog::warn("graph: {}", error);
    std::string out = "{\"error\":";
    out += '"';
    for (char c : error) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    out += "\"}";
    return out;
  }
  *ok = true;
  return RenderGraphJson(*snap, window, snap->taken_at, "prometheus");
}

}  // namespace caretta::exporter
