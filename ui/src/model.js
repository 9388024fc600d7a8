// Pure logic of the web map: no DOM, no Cytoscape. Unit-tested with node:test
// (tests/ui/model.test.mjs).

export const KINDS = [
  'Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job',
  'ReplicaSet', 'Pod', 'Service', 'node', 'external',
];

// Entities that live outside any namespace.
export const INFRA_KINDS = new Set(['node', 'external']);

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(value) {
  let n = Number(value);
  if (!Number.isFinite(n) || n <= 0) return '0 B';
  let u = 0;
  while (n >= 1024 && u < UNITS.length - 1) {
    n /= 1024;
    u++;
  }
  const digits = u === 0 ? 0 : n < 10 ? 2 : n < 100 ? 1 : 0;
  return `${n.toFixed(digits)} ${UNITS[u]}`;
}

export function formatRate(value) {
  const n = Number(value);
  if (Number.isFinite(n) && n > 0 && n < 1) return `${n.toFixed(2)} B/s`;
  return `${formatBytes(n)}/s`;
}

export function formatCount(value) {
  const n = Number(value) || 0;
  return n.toLocaleString('en-US');
}

export function formatWindow(seconds) {
  const s = Number(seconds);
  if (s % 86400 === 0) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

// Compound (namespace group) node id. Never collides with entity ids ("n-...").
export function namespaceGroupId(namespace) {
  return `ns:${namespace}`;
}

// Checks the document against docs/CONTRACTS.md and returns a normalised copy.
// Unknown kinds are kept (the style falls back to a neutral shape); duplicate ids
// and edges whose ends are missing are dropped and counted.
export function normaliseGraph(doc) {
  if (!doc || typeof doc !== 'object') throw new Error('graph: not a JSON object');
  if (!Array.isArray(doc.nodes) || !Array.isArray(doc.edges)) {
    throw new Error('graph: "nodes" and "edges" must be arrays');
  }
  const nodes = [];
  const byId = new Map();
  for (const n of doc.nodes) {
    if (!n || typeof n.id !== 'string' || n.id === '' || byId.has(n.id)) continue;
    const kind = String(n.kind ?? 'external');
    const node = {
      id: n.id,
      name: String(n.name ?? n.id),
      // Hosts and external addresses belong to no namespace, whatever label the
      // exporter gives them (Caretta's metrics say "node" / "external").
      namespace: INFRA_KINDS.has(kind) ? '' : String(n.namespace ?? ''),
      kind,
      owner: String(n.owner ?? ''),
      zone: String(n.zone ?? ''),
    };
    nodes.push(node);
    byId.set(node.id, node);
  }
  const edges = [];
  const seen = new Set();
  let dropped = 0;
  for (const e of doc.edges) {
    if (!e || typeof e.id !== 'string' || seen.has(e.id) ||
        !byId.has(e.source) || !byId.has(e.target)) {
      dropped++;
      continue;
    }
    seen.add(e.id);
    edges.push({
      id: e.id,
      source: e.source,
      target: e.target,
      server_port: Number(e.server_port) || 0,
      bytes_client_to_server: Number(e.bytes_client_to_server) || 0,
      bytes_server_to_client: Number(e.bytes_server_to_client) || 0,
      rate_bytes_per_second: Number(e.rate_bytes_per_second) || 0,
      connections: Number(e.connections) || 0,
      active_connections: Number(e.active_connections) || 0,
      failed_connects: Number(e.failed_connects) || 0,
      retransmits: Number(e.retransmits) || 0,
    });
  }
  return {
    generated_at: Number(doc.generated_at) || 0,
    window_seconds: Number(doc.window_seconds) || 0,
    source: String(doc.source ?? ''),
    nodes,
    edges,
    byId,
    dropped,
  };
}

// Line width in px for a rate, on a log scale relative to the busiest link.
export function edgeWidth(rate, maxRate) {
  if (!(rate > 0) || !(maxRate > 0)) return 1;
  const w = 1 + 9 * (Math.log1p(rate) / Math.log1p(maxRate));
  return Math.round(Math.min(10, Math.max(1, w)) * 10) / 10;
}

export function edgeLabel(edge) {
  return `:${edge.server_port}  ${formatRate(edge.rate_bytes_per_second)}`;
}

export function defaultFilters() {
  return {
    hiddenNamespaces: new Set(), // namespaces switched off (new ones appear switched on)
    hiddenKinds: new Set(),
    hideInfra: false, // hide "node" and "external" entities
    workload: '', // node id: show only this workload and its direct peers
    port: 0, // server port, 0 = all
  };
}

export function namespacesOf(graph) {
  return [...new Set(graph.nodes.map((n) => n.namespace).filter((ns) => ns !== ''))].sort();
}

export function portsOf(graph) {
  return [...new Set(graph.edges.map((e) => e.server_port))].sort((a, b) => a - b);
}

// Which nodes and edges pass the filters. Rules:
//  - a node passes on its own when its kind is shown, it is not hidden by
//    "hide node/external", and its namespace (if it has one) is shown;
//  - an edge is visible when both ends pass and its server port matches;
//  - when a namespace filter, port filter or workload focus is active, nodes
//    without a namespace and (for port/focus) every node need a visible edge;
//  - with a workload focus only that workload, its direct peers and the edges
//    between the focus and those peers remain.
export function computeVisibility(graph, filters) {
  const pass = new Set();
  for (const n of graph.nodes) {
    if (filters.hiddenKinds.has(n.kind)) continue;
    if (filters.hideInfra && INFRA_KINDS.has(n.kind)) continue;
    if (n.namespace !== '' && filters.hiddenNamespaces.has(n.namespace)) continue;
    pass.add(n.id);
  }
  const focus = filters.workload && pass.has(filters.workload) ? filters.workload : '';
  const edges = new Set();
  for (const e of graph.edges) {
    if (!pass.has(e.source) || !pass.has(e.target)) continue;
    if (filters.port && e.server_port !== filters.port) continue;
    if (focus && e.source !== focus && e.target !== focus) continue;
    edges.add(e.id);
  }
  const linked = new Set();
  for (const e of graph.edges) {
    if (edges.has(e.id)) {
      linked.add(e.source);
      linked.add(e.target);
    }
  }
  const nsFilterActive = filters.hiddenNamespaces.size > 0;
  const nodes = new Set();
  for (const id of pass) {
    const n = graph.byId.get(id);
    if (focus || filters.port) {
      if (id === focus || linked.has(id)) nodes.add(id);
    } else if (nsFilterActive && n.namespace === '') {
      if (linked.has(id)) nodes.add(id);
    } else {
      nodes.add(id);
    }
  }
  return { nodes, edges };
}

export function matchesSearch(node, query) {
  const q = query.trim().toLowerCase();
  if (!q) return false;
  const hay = `${node.namespace}/${node.name} ${node.kind}`.toLowerCase();
  return q.split(/\s+/).every((term) => hay.includes(term));
}

// Totals of one entity over all its links, both roles.
export function nodeSummary(graph, id) {
  const s = {
    asClient: { links: 0, sent: 0, received: 0, rate: 0 },
    asServer: { links: 0, sent: 0, received: 0, rate: 0 },
    connections: 0, active: 0, failed: 0, retransmits: 0,
    peers: [],
  };
  for (const e of graph.edges) {
    let role = null;
    if (e.source === id) {
      role = s.asClient;
      role.sent += e.bytes_client_to_server;
      role.received += e.bytes_server_to_client;
      s.peers.push({ edge: e, peer: e.target, direction: 'out' });
    } else if (e.target === id) {
      role = s.asServer;
      role.sent += e.bytes_server_to_client;
      role.received += e.bytes_client_to_server;
      s.peers.push({ edge: e, peer: e.source, direction: 'in' });
    } else {
      continue;
    }
    role.links++;
    role.rate += e.rate_bytes_per_second;
    s.connections += e.connections;
    s.active += e.active_connections;
    s.failed += e.failed_connects;
    s.retransmits += e.retransmits;
  }
  s.peers.sort((a, b) => b.edge.rate_bytes_per_second - a.edge.rate_bytes_per_second);
  return s;
}

// Where to put an entity that appeared after the first layout, so existing
// entities never move. Prefers a spot beside an already placed peer (clients to
// the left of servers, matching the left-to-right layout), else below its
// namespace's other members, else below everything. `occupied` is a list of
// {x, y} of placed entities; the result keeps `minGap` away from all of them.
export function placeNewNode({ peers, siblingsBox, graphBox, occupied, minGap = 70 }) {
  let start;
  if (peers.length) {
    const p = peers[0];
    start = { x: p.x + (p.newIsServer ? 160 : -160), y: p.y };
  } else if (siblingsBox) {
    start = { x: siblingsBox.x1 + 40, y: siblingsBox.y2 + 80 };
  } else if (graphBox) {
    start = { x: graphBox.x1 + 40, y: graphBox.y2 + 120 };
  } else {
    start = { x: 0, y: 0 };
  }
  const free = (pt) => occupied.every((o) => Math.hypot(o.x - pt.x, o.y - pt.y) >= minGap);
  for (let i = 0; i < 200; i++) {
    // Walk down, alternating up/down, in growing steps.
    const step = Math.ceil(i / 2) * minGap * (i % 2 ? 1 : -1);
    const pt = { x: start.x, y: start.y + step };
    if (free(pt)) return pt;
  }
  return start;
}
