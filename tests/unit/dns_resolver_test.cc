#include "resolve/dns_resolver.h"

#include <gtest/gtest.h>

#include <atomic>

namespace caretta::resolve {
namespace {

Endpoint Remote(const std::string& ip) {
  Endpoint e;
  e.ip = *common::IpAddress::Parse(ip);
  return e;
}

TEST(DnsResolver, MissReturnsNulloptThenCachedName) {
  std::atomic<int> calls{0};
  DnsResolver r({}, [&](const common::IpAddress& ip) -> std::optional<std::string> {
    ++calls;
    if (ip.ToString() == "198.51.100.7") return "api.example.test";
    return std::nullopt;
  });
  EXPECT_FALSE(r.Resolve(Remote("198.51.100.7")));
  r.Drain();
  auto e = r.Resolve(Remote("198.51.100.7"));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name, "api.example.test");
  EXPECT_EQ(e->kind, "external");
  EXPECT_FALSE(r.Resolve(Remote("198.51.100.8")));
  r.Drain();
  EXPECT_FALSE(r.Resolve(Remote("198.51.100.8")));  // negative answer cached
  r.Drain();
  EXPECT_EQ(calls.load(), 2);
}

TEST(DnsResolver, BoundedQueueCountsWhatItSkips) {
  std::atomic<bool> release{false};
  DnsResolver::Options o;
  o.max_queue = 2;
  DnsResolver r(o, [&](const common::IpAddress&) -> std::optional<std::string> {
    while (!release) std::this_thread::yield();
    return std::nullopt;
  });
  for (int i = 1; i <= 10; ++i) r.Resolve(Remote("198.51.100." + std::to_string(i)));
  EXPECT_GE(r.stats().queue_full, 7u);
  release = true;
  r.Drain();
}

TEST(DnsResolver, NeverResolvesTheLocalEnd) {
  DnsResolver r({}, [](const common::IpAddress&) { return std::optional<std::string>("x"); });
  Endpoint e = Remote("198.51.100.1");
  e.is_local = true;
  EXPECT_FALSE(r.Resolve(e));
}

TEST(NormalizeHostName, KeepsValidNamesLowerCaseWithoutTheRootDot) {
  EXPECT_EQ(NormalizeHostName("Api.Example.TEST."), "api.example.test");
  EXPECT_EQ(NormalizeHostName("_srv-1.example"), "_srv-1.example");
  EXPECT_EQ(NormalizeHostName(std::string(63, 'a') + ".b"), std::string(63, 'a') + ".b");
}

TEST(NormalizeHostName, RejectsWhatIsNoHostName) {
  for (std::string bad :
       {std::string(""), std::string("."), std::string(".."), std::string("a..b"),
        std::string(".a"), std::string("a b"), std::string("a\"b"), std::string("<script>"),
        std::string("a{b}"), std::string("a\nb"), std::string("caf\xc3\xa9"),
        std::string("a\0b", 3), std::string(64, 'a'), std::string(254, 'a')})
    EXPECT_FALSE(NormalizeHostName(bad)) << bad;
}

TEST(DnsResolver, EmptyOrHostileAnswersAreCountedAndLeaveTheIp) {
  DnsResolver r({}, [](const common::IpAddress& ip) -> std::optional<std::string> {
    return ip.ToString() == "198.51.100.1" ? "" : "x\"}\n<script>";
  });
  EXPECT_FALSE(r.Resolve(Remote("198.51.100.1")));
  EXPECT_FALSE(r.Resolve(Remote("198.51.100.2")));
  r.Drain();
  EXPECT_FALSE(r.Resolve(Remote("198.51.100.1")));  // no name: two IPs never merge into ""
  EXPECT_FALSE(r.Resolve(Remote("198.51.100.2")));
  EXPECT_EQ(r.stats().bad_names, 2u);
}

}  // namespace
}  // namespace caretta::resolve
