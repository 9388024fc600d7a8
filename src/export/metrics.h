// Renders /metrics (Caretta-compatible link metrics plus our own) and /api/graph.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "export/agent_status.h"
#include "links/link_table.h"

namespace caretta::exporter {

// /metrics rendered piece by piece, so that a scrape never holds its whole text
// (tens of MB at tens of thousands of links): each piece is built from the
// snapshot it keeps alive, where the previous one stopped.
class MetricsStream {
 public:
  // `tail` is appended as is after everything else (e.g. the Kubernetes metrics).
  MetricsStream(std::shared_ptr<const links::LinkSnapshot> snapshot, AgentStatus status,
                std::string tail = {});
  // Appends the next piece, at least `at_least` bytes unless it is the last, to
  // `out`; false when nothing was left to append.
  bool Next(std::string& out, std::size_t at_least = 64 * 1024);

 private:
  enum class Stage { kCarettaObserved, kCarettaStates, kPerLink, kRest, kDone };
  struct CarettaLink {  // Caretta's view: links summed over the Service addressed
    const links::LinkKey* key;
    std::uint64_t bytes_sent;
    links::LinkState state;
  };
  std::shared_ptr<const links::LinkSnapshot> snap_;
  AgentStatus status_;
  std::string tail_;
  std::vector<CarettaLink> caretta_view_;
  Stage stage_ = Stage::kCarettaObserved;
  bool family_started_ = false;  // its # HELP and # TYPE lines are written
  int family_ = 0;               // kPerLink: which of our per-link families
  std::size_t index_ = 0;        // Caretta's families: samples written
  // Our per-link families: the next link to write.
  std::map<links::LinkKey, links::LinkTotals>::const_iterator link_;
};

// The whole text at once (tests, small outputs).
std::string RenderMetrics(const links::LinkSnapshot& links, const AgentStatus& status);

// JSON graph (docs/CONTRACTS.md): nodes are entities, edges merge both observed
// ends of (client, server, server port).
std::string RenderGraphJson(const links::LinkSnapshot& links, double window_seconds, double now,
                            std::string_view source = "agent");

// Caretta's numeric ids: FNV-1a 32 over the fields, each followed by a 0 byte so
// ("ab","c") and ("a","bc") differ (Caretta concatenated them plainly).
std::uint32_t EntityId(const resolve::Entity& e);

}  // namespace caretta::exporter
