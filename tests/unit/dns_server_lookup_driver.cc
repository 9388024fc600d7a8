// Driver for dns_server_lookup_test.py: prints the PTR name of ARGV[2] asked of the
// DNS server ARGV[1] (empty line when none); exit 2 for a malformed server.
#include <cstdio>
#include <stdexcept>

#include "resolve/dns_resolver.h"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  try {
    auto lookup = caretta::resolve::ServerReverseLookup(argv[1], std::chrono::milliseconds(500));
    auto ip = caretta::common::IpAddress::Parse(argv[2]);
    if (!ip) return 2;
    auto name = lookup(*ip);
    std::printf("%s\n", name ? name->c_str() : "");
    return 0;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
}
