#include "resolve/chain.h"

namespace caretta::resolve {

Entity ChainResolver::Resolve(const Endpoint& endpoint) {
  Entity e = Claim(endpoint);
  SanitizeEntity(e, repairs_);
  return e;
}

Entity ChainResolver::Claim(const Endpoint& endpoint) const {
  for (const auto& r : chain_)
    if (auto e = r->Resolve(endpoint)) return *e;
  // The local end of a socket we traced is on this host, whatever its address.
  if (endpoint.is_local) return Entity{hostname_, "node", "node", "", ""};
  return Entity{endpoint.ip.ToString(), "external", "external", "", ""};
}

}  // namespace caretta::resolve
