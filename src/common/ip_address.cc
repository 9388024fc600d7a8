#include "common/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace caretta::common {

IpAddress IpAddress::V4(std::uint32_t network_order) {
  IpAddress ip;
  ip.family_ = 4;
  std::memcpy(ip.bytes_.data(), &network_order, 4);
  return ip;
}

IpAddress IpAddress::V6(const std::array<std::uint8_t, 16>& bytes) {
  static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes.data(), kMappedPrefix, 12) == 0) {
    std::uint32_t v4;
    std::memcpy(&v4, bytes.data() + 12, 4);
    return V4(v4);
  }
  IpAddress ip;
  ip.family_ = 6;
  ip.bytes_ = bytes;
  return ip;
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  std::string s(text);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return V4(v4.s_addr);
  std::array<std::uint8_t, 16> v6{};
  if (inet_pton(AF_INET6, s.c_str(), v6.data()) == 1) return V6(v6);
  return std::nullopt;
}

bool IpAddress::is_loopback() const {
  if (family_ == 4) return bytes_[0] == 127;
  if (family_ == 6) {
    for (int i = 0; i < 15; ++i)
      if (bytes_[i] != 0) return false;
    return bytes_[15] == 1;
  }
  return false;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family_ == 4) return inet_ntop(AF_INET, bytes_.data(), buf, sizeof buf);
  if (family_ == 6) return inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
  return "";
}

std::size_t IpAddressHash::operator()(const IpAddress& ip) const {
  // FNV-1a over the family-tagged bytes.
  std::uint64_t h = 1469598103934665603ull ^ (ip.is_v4() ? 4 : 6);
  for (std::uint8_t b : ip.bytes()) h = (h ^ b) * 1099511628211ull;
  return static_cast<std::size_t>(h);
}

}  // namespace caretta::common
