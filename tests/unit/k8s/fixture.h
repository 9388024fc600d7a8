// Loads `kubectl get -o json` style fixtures into a ClusterStore.
#pragma once

#include <string>

#include "k8s/cluster_store.h"

namespace caretta::k8s::testing {

std::string ReadFile(const std::string& path);
std::string FixturePath(const std::string& name);
// Decodes every item of a List file and Replace()s each resource in `store`.
// Returns the number of items that failed to decode.
int LoadList(const std::string& json, ClusterStore& store);

}  // namespace caretta::k8s::testing
