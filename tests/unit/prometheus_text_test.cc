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

TEST(EntityId, SeparatesFields) {
  EXPECT_NE(EntityId({"ab", "c", "", "", ""}), EntityId({"a", "bc", "", "", ""}));
  EXPECT_EQ(EntityId({"a", "b", "Deployment", "", ""}), EntityId({"a", "b", "Service", "", ""}));
}

}  // namespace
}  // namespace caretta::exporter
