#include "app/config.h"

#include <gtest/gtest.h>

#include <map>

#include "tracer/bpf_tracer.h"

namespace caretta::app {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(Config, DefaultsMatchCaretta) {
  ParseOutcome p = ParseConfig({}, Env({}));
  ASSERT_EQ(p.exit_code, -1) << p.message;
  EXPECT_EQ(p.config.prometheus_port, 7117);
  EXPECT_EQ(p.config.prometheus_endpoint, "/metrics");
  EXPECT_EQ(p.config.poll_interval_seconds, 5);
  EXPECT_TRUE(p.config.traverse_up_hierarchy);
}

TEST(Config, EnvironmentVariablesKeepTheirMeaning) {
  ParseOutcome p = ParseConfig({}, Env({{"PROMETHEUS_PORT", "9000"},
                                        {"PROMETHEUS_ENDPOINT", "/m"},
                                        {"POLL_INTERVAL", "15"},
                                        {"RESOLVE_DNS", "TRUE"},
                                        {"TRAVERSE_UP_HIERARCHY", "false"}}));
  ASSERT_EQ(p.exit_code, -1) << p.message;
  EXPECT_EQ(p.config.prometheus_port, 9000);
  EXPECT_EQ(p.config.prometheus_endpoint, "/m");
  EXPECT_EQ(p.config.poll_interval_seconds, 15);
  EXPECT_TRUE(p.config.resolve_dns);
  EXPECT_FALSE(p.config.traverse_up_hierarchy);
}

TEST(Config, FlagBeatsEnvironment) {
  ParseOutcome p = ParseConfig({"--poll-interval", "2"}, Env({{"POLL_INTERVAL", "15"}}));
  ASSERT_EQ(p.exit_code, -1) << p.message;
  EXPECT_EQ(p.config.poll_interval_seconds, 2);
}

struct BadCase {
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string mentions;
};

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, ExitsTwoNamingTheProblem) {
  ParseOutcome p = ParseConfig(GetParam().args, Env(GetParam().env));
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_NE(p.message.find(GetParam().mentions), std::string::npos) << p.message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadConfig,
    ::testing::Values(BadCase{{}, {{"POLL_INTERVAL", "abc"}}, "POLL_INTERVAL"},
                      BadCase{{}, {{"POLL_INTERVAL", "0"}}, "POLL_INTERVAL"},
                      BadCase{{}, {{"PROMETHEUS_PORT", "70000"}}, "PROMETHEUS_PORT"},
                      BadCase{{}, {{"PROMETHEUS_PORT", "12a"}}, "PROMETHEUS_PORT"},
                      BadCase{{}, {{"RESOLVE_DNS", "maybe"}}, "RESOLVE_DNS"},
                      BadCase{{}, {{"TRAVERSE_UP_HIERARCHY", ""}}, "TRAVERSE_UP_HIERARCHY"},
                      BadCase{{}, {{"PROMETHEUS_ENDPOINT", "metrics"}}, "PROMETHEUS_ENDPOINT"},
                      BadCase{{}, {{"PROMETHEUS_ENDPOINT", "/api/graph"}}, "PROMETHEUS_ENDPOINT"},
                      BadCase{{}, {{"RINGBUF_KIB", "1000"}}, "power of two"},
                      BadCase{{}, {{"RINGBUF_KIB", "256"}}, "RINGBUF_KIB"},
                      BadCase{{}, {{"SOCKET_DISCOVERY", "eager"}}, "SOCKET_DISCOVERY"},
                      BadCase{{}, {{"LISTEN_ADDRESS", "999.1.1.1"}}, "not an IPv4 or IPv6"},
                      BadCase{{}, {{"LISTEN_ADDRESS", "localhost"}}, "LISTEN_ADDRESS"},
                      BadCase{{}, {{"DNS_SERVER", "1.2.3.4:99999"}}, "DNS_SERVER"},
                      BadCase{{}, {{"DNS_SERVER", "1.2.3.4:"}}, "DNS_SERVER"},
                      BadCase{{}, {{"DNS_SERVER", "[::1"}}, "DNS_SERVER"},
                      BadCase{{}, {{"DNS_SERVER", "dns.example"}}, "DNS_SERVER"},
                      BadCase{{"--no-such-flag"}, {}, "no-such-flag"},
                      BadCase{{"--poll-interval"}, {}, "poll-interval"}));

TEST(Config, HelpExitsZeroAndDocumentsEveryVariable) {
  ParseOutcome p = ParseConfig({"--help"}, Env({}));
  EXPECT_EQ(p.exit_code, 0);
  for (const char* var : {"PROMETHEUS_PORT", "PROMETHEUS_ENDPOINT", "POLL_INTERVAL", "RESOLVE_DNS",
                          "TRAVERSE_UP_HIERARCHY"})
    EXPECT_NE(p.message.find(var), std::string::npos) << var;
}

TEST(Config, SocketDiscoveryChoices) {
  const std::pair<const char*, SocketDiscovery> choices[] = {{"auto", SocketDiscovery::kAuto},
                                                             {"tasks", SocketDiscovery::kTasks},
                                                             {"open", SocketDiscovery::kOpen}};
  for (const auto& [text, want] : choices) {
    ParseOutcome p = ParseConfig({"--socket-discovery", text}, Env({}));
    EXPECT_EQ(p.exit_code, -1) << text << ": " << p.message;
    EXPECT_EQ(p.config.socket_discovery, want);
    EXPECT_NE(Describe(p.config).find("socket_discovery=" + std::string(text) + "\n"),
              std::string::npos);
  }
}

TEST(Config, ConntrackNetnsAndGraphSourceAreParsedOnce) {
  ParseOutcome p = ParseConfig({"--conntrack-netns", "/run/netns/a,,/run/netns/b", "--graph-source",
                                "prometheus=http://127.0.0.1:9090"},
                               Env({}));
  ASSERT_EQ(p.exit_code, -1) << p.message;
  EXPECT_EQ(p.config.conntrack_netns.mode, ConntrackNetns::Mode::kPaths);
  EXPECT_EQ(p.config.conntrack_netns.paths,
            (std::vector<std::string>{"/run/netns/a", "/run/netns/b"}));
  EXPECT_EQ(p.config.graph_prometheus_url, "http://127.0.0.1:9090");
  std::string described = Describe(p.config);
  EXPECT_NE(described.find("conntrack_netns=/run/netns/a,/run/netns/b\n"), std::string::npos);
  EXPECT_NE(described.find("graph_source=prometheus=http://127.0.0.1:9090\n"), std::string::npos);
  ParseOutcome defaults = ParseConfig({}, Env({}));
  EXPECT_EQ(defaults.config.conntrack_netns.mode, ConntrackNetns::Mode::kAuto);
  EXPECT_NE(Describe(defaults.config).find("conntrack_netns=auto\ngraph_source=agent\n"),
            std::string::npos);
  EXPECT_EQ(ParseConfig({"--conntrack-netns", "/a,rel"}, Env({})).exit_code, 2);
}

TEST(Config, ServerAndListenAddressesOfEveryForm) {
  for (const char* v : {"192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]:53"}) {
    ParseOutcome p = ParseConfig({"--dns-server", v}, Env({}));
    EXPECT_EQ(p.exit_code, -1) << v << ": " << p.message;
  }
  for (const char* v : {"0.0.0.0", "::", "127.0.0.1", "::1"}) {
    ParseOutcome p = ParseConfig({"--listen-address", v}, Env({}));
    EXPECT_EQ(p.exit_code, -1) << v << ": " << p.message;
  }
}

TEST(Config, RingBoundsAreTheTracers) {
  EXPECT_EQ(std::uint64_t{kMinRingbufKib} * 1024, tracer::TracerConfig::kMinRingbufBytes);
  EXPECT_EQ(std::uint64_t{kMaxRingbufKib} * 1024, tracer::TracerConfig::kMaxRingbufBytes);
}

TEST(Config, DescribeListsEffectiveValues) {
  ParseOutcome p = ParseConfig({"--prometheus-port", "8000"}, Env({}));
  EXPECT_NE(Describe(p.config).find("prometheus_port=8000\n"), std::string::npos);
}

}  // namespace
}  // namespace caretta::app
