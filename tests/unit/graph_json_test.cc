#include <gtest/gtest.h>
#include <simdjson.h>

#include "export/metrics.h"

namespace caretta::exporter {
namespace {

links::LinkKey Key(tracer::Role role) {
  return links::LinkKey{resolve::Entity{"front\"end", "shop", "Deployment", "", ""},
                        resolve::Entity{"cart", "shop", "StatefulSet", "", ""},
                        7070,
                        role,
                        {}};
}

TEST(GraphJson, MergesBothEndsIntoOneEdgeAndParses) {
  links::LinkSnapshot snap;
  snap.links[Key(tracer::Role::kClient)].bytes_sent = 100;
  snap.links[Key(tracer::Role::kClient)].bytes_received = 900;
  snap.links[Key(tracer::Role::kServer)].bytes_sent = 900;
  snap.links[Key(tracer::Role::kServer)].bytes_received = 100;
  std::string json = RenderGraphJson(snap, 300, 1000);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(json);
  EXPECT_EQ(doc["nodes"].get_array().size(), 2u);
  simdjson::dom::array edges = doc["edges"].get_array();
  ASSERT_EQ(edges.size(), 1u);
  simdjson::dom::element e = edges.at(0);
  EXPECT_EQ(int64_t(e["server_port"]), 7070);
  EXPECT_EQ(int64_t(e["bytes_client_to_server"]), 100);
  EXPECT_EQ(int64_t(e["bytes_server_to_client"]), 900);
  bool found = false;
  for (simdjson::dom::element n : doc["nodes"].get_array())
    if (std::string_view(n["name"]) == "front\"end") found = true;
  EXPECT_TRUE(found);
}

TEST(GraphJson, IdsAreStableAcrossRenders) {
  links::LinkSnapshot snap;
  snap.links[Key(tracer::Role::kClient)].bytes_sent = 1;
  std::string a = RenderGraphJson(snap, 60, 1);
  snap.links[Key(tracer::Role::kClient)].bytes_sent = 2;
  std::string b = RenderGraphJson(snap, 60, 2);
  simdjson::dom::parser pa, pb;
  EXPECT_EQ(std::string_view(pa.parse(a)["edges"].at(0)["id"]),
            std::string_view(pb.parse(b)["edges"].at(0)["id"]));
}

}  // namespace
}  // namespace caretta::exporter
