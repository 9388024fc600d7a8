// Conntrack entries as the agent's query callback receives them: ReplySource reads
// the backend a NATed connection reached from the entry's reply tuple, whatever
// attributes the entry carries. The netlink message itself is parsed by
// libnetfilter_conntrack, which trusts the kernel (it calls exit() on a malformed
// attribute, so it cannot be fuzzed in-process); the entry is therefore built here
// from the input. Input: a byte of attribute-presence bits, then the values.
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "resolve/conntrack_nat.h"

namespace {

// Reads values from the input, zeros once it runs out.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  void Read(void* out, std::size_t n) {
    std::memset(out, 0, n);
    const std::size_t take = std::min(n, size_ - pos_);
    std::memcpy(out, data_ + pos_, take);
    pos_ += take;
  }
  template <typename T>
  T Get() {
    T v;
    Read(&v, sizeof v);
    return v;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_, pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  const auto present = in.Get<std::uint8_t>();
  std::unique_ptr<nf_conntrack, decltype(&nfct_destroy)> ct(nfct_new(), nfct_destroy);
  if (!ct) return 0;
  const auto family = in.Get<std::uint8_t>();
  const auto v4 = in.Get<std::uint32_t>();
  std::array<std::uint8_t, 16> v6;
  in.Read(v6.data(), v6.size());
  const auto port = in.Get<std::uint16_t>();
  // The family byte is the input's, not only AF_INET/AF_INET6: the kernel decides.
  if (present & 1) nfct_set_attr_u8(ct.get(), ATTR_REPL_L3PROTO, family);
  if (present & 2) nfct_set_attr_u32(ct.get(), ATTR_REPL_IPV4_SRC, v4);
  if (present & 4) nfct_set_attr(ct.get(), ATTR_REPL_IPV6_SRC, v6.data());
  if (present & 8) nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_SRC, port);
  if (present & 16) nfct_set_attr_u8(ct.get(), ATTR_L3PROTO, family);
  if (present & 32) nfct_set_attr_u32(ct.get(), ATTR_IPV4_SRC, v4);

  auto destination = caretta::resolve::ReplySource(ct.get());
  // A destination needs the reply's family, a matching address and a port.
  const bool complete =
      (present & 1) && (present & 8) &&
      ((family == AF_INET && (present & 2)) || (family == AF_INET6 && (present & 4)));
  if (destination.has_value() != complete) abort();
  if (destination && family == AF_INET6 && !destination->ip.is_v6() &&
      !(v6[10] == 0xff && v6[11] == 0xff))  // only v4-mapped IPv6 becomes IPv4
    abort();
  return 0;
}
