// An IPv4 or IPv6 address; v4-mapped IPv6 (::ffff:a.b.c.d) is normalized to IPv4.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace caretta::common {

class IpAddress {
 public:
  IpAddress() = default;
  static IpAddress V4(std::uint32_t network_order);
  // 16 bytes in network order; a v4-mapped address becomes V4.
  static IpAddress V6(const std::array<std::uint8_t, 16>& bytes);
  static std::optional<IpAddress> Parse(std::string_view text);

  bool is_v4() const { return family_ == 4; }
  bool is_v6() const { return family_ == 6; }
  bool is_loopback() const;
  bool is_unspecified() const { return family_ == 0; }
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }
  std::string ToString() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  std::uint8_t family_ = 0;               // 0 unset, 4, 6
  std::array<std::uint8_t, 16> bytes_{};  // v4 in the first 4 bytes
};

struct IpAddressHash {
  std::size_t operator()(const IpAddress& ip) const;
};

}  // namespace caretta::common
