// DNS PTR answers and the names in them (RESOLVE_DNS=true). The agent's c-ares
// lookup hands the answer to ares_parse_ptr_reply (what ares_gethostbyaddr does with
// a reply); the name it yields goes through DnsResolver into an Entity, and out as
// a Prometheus label value. Input: one DNS message as it arrives from the server.
#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "common/ip_address.h"
#include "export/prometheus_text.h"
#include "resolve/dns_resolver.h"

using namespace caretta;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 65535) return 0;  // a DNS message never is
  const std::array<std::uint8_t, 4> address = {192, 0, 2, 1};
  hostent* host = nullptr;
  std::optional<std::string> name;
  if (ares_parse_ptr_reply(data, static_cast<int>(size), address.data(), 4, AF_INET, &host) ==
      ARES_SUCCESS) {
    if (host != nullptr && host->h_name != nullptr) name = host->h_name;
    ares_free_hostent(host);
  }
  if (!name) return 0;

  resolve::DnsResolver::Options options;
  options.max_cache = 4;
  resolve::DnsResolver resolver(options, [&name](const common::IpAddress&) { return name; });
  resolve::Endpoint endpoint;
  endpoint.ip = *common::IpAddress::Parse("192.0.2.1");
  (void)resolver.Resolve(endpoint);  // a miss queues the lookup
  resolver.Drain();
  // The answer is cached now: a name (or nothing, if the resolver refuses the name).
  std::optional<resolve::Entity> entity = resolver.Resolve(endpoint);
  if (!entity) return 0;
  if (entity->kind != "external") abort();

  exporter::PrometheusText text;
  text.Sample("caretta_links_observed", {{"server_name", entity->name}}, std::uint64_t{1});
  if (text.str().find('\n') != text.str().size() - 1) abort();  // one line, whatever the name
  return 0;
}
