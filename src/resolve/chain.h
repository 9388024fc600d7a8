// Tries resolvers in order (Kubernetes → host → DNS); what none claims becomes
// kind "external" named by its IP, or the host itself for a socket's local end.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "resolve/resolver.h"

namespace caretta::resolve {

class ChainResolver {
 public:
  explicit ChainResolver(std::string hostname) : hostname_(std::move(hostname)) {}
  void Add(std::shared_ptr<Resolver> resolver) { chain_.push_back(std::move(resolver)); }
  // Every entity it returns is a safe label value (see SanitizeEntity).
  Entity Resolve(const Endpoint& endpoint);
  const LabelRepairs& repairs() const { return repairs_; }

 private:
  Entity Claim(const Endpoint& endpoint) const;
  LabelRepairs repairs_;
  std::string hostname_;
  std::vector<std::shared_ptr<Resolver>> chain_;
};

}  // namespace caretta::resolve
