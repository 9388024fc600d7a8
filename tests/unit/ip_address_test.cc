#include "common/ip_address.h"

#include <gtest/gtest.h>

namespace caretta::common {
namespace {

TEST(IpAddress, ParsesAndPrintsBothFamilies) {
  EXPECT_EQ(IpAddress::Parse("10.0.0.1")->ToString(), "10.0.0.1");
  EXPECT_EQ(IpAddress::Parse("fd00::1")->ToString(), "fd00::1");
  EXPECT_FALSE(IpAddress::Parse("not-an-ip"));
}

TEST(IpAddress, V4MappedBecomesV4) {
  auto ip = IpAddress::Parse("::ffff:10.1.2.3");
  ASSERT_TRUE(ip);
  EXPECT_TRUE(ip->is_v4());
  EXPECT_EQ(*ip, *IpAddress::Parse("10.1.2.3"));
}

TEST(IpAddress, Loopback) {
  EXPECT_TRUE(IpAddress::Parse("127.8.0.1")->is_loopback());
  EXPECT_TRUE(IpAddress::Parse("::1")->is_loopback());
  EXPECT_FALSE(IpAddress::Parse("10.0.0.1")->is_loopback());
}

}  // namespace
}  // namespace caretta::common
