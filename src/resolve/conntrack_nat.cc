#include "resolve/conntrack_nat.h"

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/netns.h"
#include "spdlog/spdlog.h"

namespace caretta::resolve {
namespace {

struct Reply {
  bool found = false;
  Destination destination;
};

int OnEntry(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
  auto* reply = static_cast<Reply*>(data);
  if (auto destination = ReplySource(ct)) {
    reply->found = true;
    reply->destination = *destination;
  }
  // CONTINUE, not STOP: stopping here leaves the request's ACK unread on the
  // socket, and the next query would read this answer's leftovers instead of its own.
  return NFCT_CB_CONTINUE;
}

}  // namespace

std::optional<Destination> ReplySource(const nf_conntrack* ct) {
  // An attribute the message did not carry reads as NULL: check before reading.
  if (nfct_attr_is_set(ct, ATTR_REPL_L3PROTO) <= 0 || nfct_attr_is_set(ct, ATTR_REPL_PORT_SRC) <= 0)
    return std::nullopt;
  Destination destination;
  const std::uint8_t family = nfct_get_attr_u8(ct, ATTR_REPL_L3PROTO);
  if (family == AF_INET && nfct_attr_is_set(ct, ATTR_REPL_IPV4_SRC) > 0) {
    destination.ip = common::IpAddress::V4(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC));
  } else if (family == AF_INET6 && nfct_attr_is_set(ct, ATTR_REPL_IPV6_SRC) > 0) {
    std::array<std::uint8_t, 16> bytes;
    std::memcpy(bytes.data(), nfct_get_attr(ct, ATTR_REPL_IPV6_SRC), 16);
    destination.ip = common::IpAddress::V6(bytes);
  } else {
    return std::nullopt;
  }
  destination.port = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
  return destination;
}

ConntrackNat::ConntrackNat(const std::vector<std::string>& netns_paths) {
  for (const std::string& path : netns_paths) {
    nfct_handle* h = nullptr;
    std::string error;
    // The netlink socket belongs to the namespace it was created in.
    bool entered = common::RunInNetns(
        path, [&] { h = nfct_open(CONNTRACK, 0); }, &error);
    if (!entered || !h) {
      spdlog::warn("nat: no conntrack access in {} ({}); Services there stay unresolved", path,
                   entered ? std::strerror(errno) : error);
      continue;
    }
    handles_.push_back(h);
  }
  if (!handles_.empty())
    spdlog::info("nat: undoing Service NAT through conntrack in {} namespace(s)", handles_.size());
}

ConntrackNat::~ConntrackNat() {
  for (nfct_handle* h : handles_) nfct_close(h);
}

std::optional<Destination> ConntrackNat::RealDestination(const common::IpAddress& src,
                                                         std::uint16_t sport,
                                                         const common::IpAddress& dst,
                                                         std::uint16_t dport) {
  if (src.is_v4() != dst.is_v4()) return std::nullopt;
  std::unique_ptr<nf_conntrack, decltype(&nfct_destroy)> ct(nfct_new(), nfct_destroy);
  if (!ct) return std::nullopt;
  if (src.is_v4()) {
    std::uint32_t s, d;
    std::memcpy(&s, src.bytes().data(), 4);
    std::memcpy(&d, dst.bytes().data(), 4);
    nfct_set_attr_u8(ct.get(), ATTR_L3PROTO, AF_INET);
    nfct_set_attr_u32(ct.get(), ATTR_IPV4_SRC, s);
    nfct_set_attr_u32(ct.get(), ATTR_IPV4_DST, d);
  } else {
    nfct_set_attr_u8(ct.get(), ATTR_L3PROTO, AF_INET6);
    nfct_set_attr(ct.get(), ATTR_IPV6_SRC, src.bytes().data());
    nfct_set_attr(ct.get(), ATTR_IPV6_DST, dst.bytes().data());
  }
  nfct_set_attr_u8(ct.get(), ATTR_L4PROTO, IPPROTO_TCP);
  nfct_set_attr_u16(ct.get(), ATTR_PORT_SRC, htons(sport));
  nfct_set_attr_u16(ct.get(), ATTR_PORT_DST, htons(dport));

  std::lock_guard lock(mu_);
  ++lookups_;
  for (nfct_handle* h : handles_) {
    Reply reply;
    nfct_callback_register(h, NFCT_T_ALL, OnEntry, &reply);
    int rc = nfct_query(h, NFCT_Q_GET, ct.get());
    nfct_callback_unregister(h);
    if (rc != 0 || !reply.found) continue;
    // An entry without translation replies from the address we already know.
    if (reply.destination.ip == dst && reply.destination.port == dport) continue;
    ++translated_;
    spdlog::debug("nat: {}:{} -> {}:{} really reached {}:{}", src.ToString(), sport, dst.ToString(),
                  dport, reply.destination.ip.ToString(), reply.destination.port);
    return reply.destination;
  }
  return std::nullopt;
}

}  // namespace caretta::resolve
