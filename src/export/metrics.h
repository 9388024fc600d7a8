// Renders /metrics (Caretta-compatible link metrics plus our own) and /api/graph.
#pragma once

#include <string>

#include "export/agent_status.h"
#include "links/link_table.h"

namespace caretta::exporter {

std::string RenderMetrics(const links::LinkSnapshot& links, const AgentStatus& status);

// JSON graph (docs/CONTRACTS.md): nodes are entities, edges merge both observed
// ends of (client, server, server port).
std::string RenderGraphJson(const links::LinkSnapshot& links, double window_seconds, double now,
                            std::string_view source = "agent");

// Caretta's numeric ids: FNV-1a 32 over the fields, each followed by a 0 byte so
// ("ab","c") and ("a","bc") differ (Caretta concatenated them plainly).
std::uint32_t EntityId(const resolve::Entity& e);

}  // namespace caretta::exporter
