#include "fixture.h"

#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "k8s/resources.h"

namespace caretta::k8s::testing {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FixturePath(const std::string& name) {
  return std::string(K8S_FIXTURE_DIR) + "/" + name;
}

int LoadList(const std::string& json, ClusterStore& store) {
  std::map<std::string, std::vector<Object>> by_kind;
  std::map<std::string, WatchedResource> resources;
  for (WatchedResource& r : WatchedResources()) {
    by_kind[r.kind];
    resources.emplace(r.kind, std::move(r));
  }
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element list = parser.parse(padded).value();
  int failures = 0;
  simdjson::dom::array items = list["items"].get_array().value();
  for (simdjson::dom::element item : items) {
    std::string kind(item["kind"].get_string().value());
    auto r = resources.find(kind);
    if (r == resources.end()) continue;
    std::string error;
    auto object = DecodeObject(r->second.type, r->second.kind, item, &error);
    if (!object) {
      ++failures;
      continue;
    }
    by_kind[kind].push_back(std::move(*object));
  }
  for (auto& [kind, objects] : by_kind) store.Replace(resources.at(kind), std::move(objects));
  return failures;
}

}  // namespace caretta::k8s::testing
