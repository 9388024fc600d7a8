#include "export/prometheus_text.h"

#include <gtest/gtest.h>

#include "export/metrics.h"

namespace caretta::exporter {
namespace {

TEST(PrometheusText, EscapesLabelValues) {
  PrometheusText t;
  t.Family("m", "gauge", "help with \\ and\nnewline");
  t.Sample("m", {{"a", "quote\" back\\slash\nnl"}}, std::uint64_t{3});
  EXPECT_EQ(t.str(),
            "# HELP m help with \\\\ and\\nnewline\n# TYPE m gauge\n"
            "m{a=\"quote\\\" back\\\\slash\\nnl\"} 3\n");
}

// A process can name itself with any bytes; Prometheus rejects a scrape with one
// label value that is not UTF-8, so bad bytes become U+FFFD and good ones stay.
TEST(PrometheusText, LabelValuesAreAlwaysUtf8) {
  std::string out;
  AppendEscapedLabelValue(out, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(out, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  out.clear();
  // A stray continuation byte, a truncated sequence, an overlong '/', a surrogate.
  AppendEscapedLabelValue(out,
                          "a\x80"
                          "b\xE2\x82"
                          "c\xC0\xAF"
                          "d\xED\xA0\x80");
  const std::string bad = "\xEF\xBF\xBD";
  EXPECT_EQ(out, "a" + bad + "b" + bad + bad + "c" + bad + bad + "d" + bad + bad + bad);
}

TEST(PrometheusText, IntegersStayExactAndSpecialFloatsAreSpelled) {
  PrometheusText t;
  t.Sample("big", {}, std::uint64_t{18446744073709551615ull});
  t.Sample("inf", {}, 1.0 / 0.0);
  EXPECT_EQ(t.str(), "big 18446744073709551615\ninf +Inf\n");
}

TEST(RenderMetrics, LinkCarriesCarettasLabels) {
  links::LinkSnapshot snap;
  links::LinkKey key{resolve::Entity{"checkout", "demo-ng", "Deployment", "", ""},
                     resolve::Entity{"productcatalog", "demo-ng", "Service", "", ""},
                     3550,
                     tracer::Role::kClient,
                     {}};
  snap.links[key].bytes_sent = 2537;
  std::string text = RenderMetrics(snap, AgentStatus{});
  EXPECT_NE(text.find("caretta_links_observed{link_id=\""), std::string::npos);
  EXPECT_NE(text.find("client_name=\"checkout\",client_namespace=\"demo-ng\",client_kind="
                      "\"Deployment\",client_owner=\"\",server_id=\""),
            std::string::npos);
  EXPECT_NE(text.find("server_name=\"productcatalog\",server_namespace=\"demo-ng\","
                      "server_kind=\"Service\",server_port=\"3550\",role=\"1\"} 2537\n"),
            std::string::npos);
}

links::LinkSnapshot ManyLinks(int n) {
  links::LinkSnapshot snap;
  for (int i = 0; i < n; ++i) {
    links::LinkKey key{resolve::Entity{"client-" + std::to_string(i), "ns", "Deployment", "", ""},
                       resolve::Entity{"server", "ns", "Deployment", "", ""},
                       80,
                       tracer::Role::kClient,
                       {}};
    snap.links[key].bytes_sent = 1000 + i;
    // The same link reached through a Service: Caretta's series sum both.
    key.via_service = resolve::Entity{"server", "ns", "Service", "", ""};
    key.via_service_port = 8080;
    key.client.zone = "zone-b";  // zones are no label: still the same Caretta link
    snap.links[key].bytes_sent = 1;
    snap.links[key].state = links::LinkState::kOpen;
  }
  return snap;
}

TEST(MetricsStream, PiecesOfAnySizeMakeTheSameText) {
  auto snap = std::make_shared<const links::LinkSnapshot>(ManyLinks(300));
  AgentStatus status;
  status.drops = {{"table_full", 3}};
  const std::string whole = RenderMetrics(*snap, status) + "k8s_tail 1\n";
  for (std::size_t piece : {1, 100, 4096, 1 << 20}) {
    MetricsStream stream(snap, status, "k8s_tail 1\n");
    std::string text, chunk;
    int pieces = 0;
    while (stream.Next(chunk, piece)) {
      EXPECT_LE(chunk.size(), piece + 4096) << "a piece far past its size";
      text += chunk;
      chunk.clear();
      ++pieces;
    }
    EXPECT_EQ(text, whole) << piece;
    EXPECT_FALSE(stream.Next(chunk));
    if (piece == 1) {
      EXPECT_GT(pieces, 1000);
    }
  }
}

TEST(MetricsStream, CarettaSeriesSumLinksReachedThroughAService) {
  std::string text = RenderMetrics(ManyLinks(1), AgentStatus{});
  EXPECT_NE(text.find("role=\"1\"} 1001\n"), std::string::npos) << text;  // 1000 + 1
  EXPECT_NE(text.find("caretta_tcp_states{"), std::string::npos);
  std::size_t observed = 0;
  for (std::size_t at = 0; (at = text.find("\ncaretta_links_observed{", at)) != std::string::npos;
       ++at)
    ++observed;
  EXPECT_EQ(observed, 1u);
  std::size_t ours = 0;
  for (std::size_t at = 0;
       (at = text.find("\ncaretta_link_bytes_sent_total{", at)) != std::string::npos; ++at)
    ++ours;
  EXPECT_EQ(ours, 2u);  // our own series keep the Service apart
}

TEST(RenderMetrics, HttpServerCounts) {
  AgentStatus status;
  status.http_requests = {{"/metrics 200", 4}, {"other 404", 2}};
  status.http_connection_drops = {{"head_deadline", 3}, {"limit", 1}};
  status.http_connection_limit = 2048;
  std::string text = RenderMetrics(links::LinkSnapshot{}, status);
  EXPECT_NE(text.find("caretta_http_requests_total{path=\"other\",code=\"404\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("caretta_http_connections_dropped_total{reason=\"head_deadline\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("caretta_http_connection_limit 2048\n"), std::string::npos);
}

TEST(EntityId, SeparatesFields) {
  EXPECT_NE(EntityId({"ab", "c", "", "", ""}), EntityId({"a", "bc", "", "", ""}));
  EXPECT_EQ(EntityId({"a", "b", "Deployment", "", ""}), EntityId({"a", "b", "Service", "", ""}));
}

}  // namespace
}  // namespace caretta::exporter
