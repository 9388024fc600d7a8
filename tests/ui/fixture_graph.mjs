// Deterministic fixture for the web map tests: a small cluster with three
// namespaces and every entity kind of the /api/graph contract (docs/CONTRACTS.md).
// graph(version, windowSeconds) returns a new document; version >= 1 adds one
// workload and one link and changes every rate, so a refresh has something to do.

function fnv1a(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export function nodeId(name, namespace, kind) {
  return 'n-' + fnv1a(`${name}\u0000${namespace}\u0000${kind}`);
}

// [name, namespace, kind]
const NODES = [
  ['frontend', 'shop', 'Deployment'],
  ['frontend', 'shop', 'Service'],
  ['checkout', 'shop', 'Deployment'],
  ['cart', 'shop', 'Deployment'],
  ['catalog', 'shop', 'Deployment'],
  ['redis-cart', 'shop', 'StatefulSet'],
  ['email-digest', 'shop', 'CronJob'],
  ['debug-shell', 'shop', 'Pod'],
  ['payment', 'payments', 'Deployment'],
  ['payment', 'payments', 'Service'],
  ['ledger-db', 'payments', 'StatefulSet'],
  ['db-migrate', 'payments', 'Job'],
  ['prometheus', 'monitoring', 'StatefulSet'],
  ['node-exporter', 'monitoring', 'DaemonSet'],
  ['log-shipper', 'monitoring', 'DaemonSet'],
  ['legacy-poller-7d9f', 'monitoring', 'ReplicaSet'],
  ['worker-1', '', 'node'],
  ['worker-2', '', 'node'],
  ['api.stripe.com', '', 'external'],
  ['203.0.113.7', '', 'external'],
];

// [client, server, port, bytes c->s, bytes s->c, rate, conns, active, failed, retrans]
// client/server as "namespace/name/kind".
const EDGES = [
  ['/worker-1/node', 'shop/frontend/Service', 80, 80_000, 1_900_000, 3_100, 120, 4, 0, 0],
  ['shop/frontend/Service', 'shop/frontend/Deployment', 8080, 75_000, 1_800_000, 2_900, 118, 4, 0, 0],
  ['shop/frontend/Deployment', 'shop/checkout/Deployment', 5050, 420_000, 96_000, 850, 40, 2, 0, 1],
  ['shop/frontend/Deployment', 'shop/cart/Deployment', 7070, 210_000, 330_000, 640, 64, 3, 0, 0],
  ['shop/frontend/Deployment', 'shop/catalog/Deployment', 3550, 95_000, 5_400_000, 9_800, 200, 6, 0, 0],
  ['shop/cart/Deployment', 'shop/redis-cart/StatefulSet', 6379, 1_200_000, 2_100_000, 4_200, 8, 8, 0, 0],
  ['shop/checkout/Deployment', 'payments/payment/Service', 50051, 61_000, 12_000, 120, 20, 1, 0, 0],
  ['shop/checkout/Deployment', 'payments/payment/Deployment', 50051, 58_000, 11_000, 115, 19, 1, 0, 0],
  ['payments/payment/Deployment', '/api.stripe.com/external', 443, 33_000, 41_000, 60, 12, 0, 1, 2],
  ['payments/payment/Deployment', 'payments/ledger-db/StatefulSet', 5432, 150_000, 80_000, 210, 4, 4, 0, 0],
  ['payments/db-migrate/Job', 'payments/ledger-db/StatefulSet', 5432, 9_000, 2_000, 0, 6, 0, 5, 0],
  ['shop/email-digest/CronJob', '/203.0.113.7/external', 587, 44_000, 3_000, 12, 3, 0, 0, 7],
  ['shop/debug-shell/Pod', 'shop/cart/Deployment', 7070, 600, 0, 0.5, 4, 0, 4, 0],
  ['monitoring/prometheus/StatefulSet', 'monitoring/node-exporter/DaemonSet', 9100, 40_000, 2_600_000, 5_100, 60, 2, 0, 0],
  ['monitoring/prometheus/StatefulSet', '/worker-1/node', 10250, 20_000, 900_000, 1_700, 30, 1, 0, 0],
  ['monitoring/prometheus/StatefulSet', '/worker-2/node', 10250, 19_000, 870_000, 1_650, 30, 1, 0, 0],
  ['monitoring/prometheus/StatefulSet', 'shop/checkout/Deployment', 9090, 7_000, 310_000, 520, 30, 1, 0, 0],
  ['monitoring/log-shipper/DaemonSet', 'monitoring/prometheus/StatefulSet', 9090, 900_000, 15_000, 1_400, 2, 2, 0, 0],
  ['monitoring/legacy-poller-7d9f/ReplicaSet', 'shop/catalog/Deployment', 3550, 2_000, 50_000, 25, 10, 0, 2, 0],
];

const NEW_NODE = ['recommendation', 'shop', 'Deployment'];
const NEW_EDGE = ['shop/frontend/Deployment', 'shop/recommendation/Deployment', 8080, 30_000, 120_000, 330, 15, 1, 0, 0];

function parseRef(ref) {
  const [namespace, name, kind] = ref.split('/');
  return nodeId(name, namespace, kind);
}

export function graph(version = 0, windowSeconds = 300) {
  const nodes = NODES.slice();
  const edges = EDGES.slice();
  if (version >= 1) {
    nodes.push(NEW_NODE);
    edges.push(NEW_EDGE);
  }
  // Rates move with the version and the window so refreshes visibly change.
  const factor = (1 + 0.5 * (version % 3)) * (windowSeconds >= 3600 ? 0.6 : 1);
  return {
    generated_at: 1764147600.5 + version * 5,
    window_seconds: windowSeconds,
    source: 'fixture',
    nodes: nodes.map(([name, namespace, kind]) => ({
      id: nodeId(name, namespace, kind), name, namespace, kind, owner: '', zone: '',
    })),
    edges: edges.map(([c, s, port, c2s, s2c, rate, conns, active, failed, retrans]) => {
      const source = parseRef(c);
      const target = parseRef(s);
      return {
        id: 'e-' + fnv1a(`${source}\u0000${target}\u0000${port}`),
        source, target, server_port: port,
        bytes_client_to_server: c2s * (1 + version),
        bytes_server_to_client: s2c * (1 + version),
        rate_bytes_per_second: Math.round(rate * factor * 10) / 10,
        connections: conns + version, active_connections: active,
        failed_connects: failed, retransmits: retrans,
      };
    }),
  };
}

export const FIXTURE_COUNTS = { nodes: NODES.length, edges: EDGES.length };

// Names a hostile Kubernetes API or PTR answer could carry: markup, script,
// quotes, control characters, and a very long name. The map must show them as
// inert text. HOSTILE_MARK is what an executed payload would set on window.
export const HOSTILE_MARK = '__caretta_pwned';
export const HOSTILE_NAMES = [
  `<img src=x onerror="window.${HOSTILE_MARK}=1">`,
  `<script>window.${HOSTILE_MARK}=1</script>`,
  `"><svg onload=window.${HOSTILE_MARK}=1>`,
  `x' onmouseover='window.${HOSTILE_MARK}=1`,
  'back\\slash {brace} "quote"\nnewline\u0000nul \u202e',
  'n'.repeat(10_000),
];

export function hostileGraph() {
  const nodes = HOSTILE_NAMES.map((name, i) => {
    const namespace = i % 2 ? `<u>ns-${i}</u>` : 'shop';
    return { id: nodeId(name, namespace, 'Deployment'), name, namespace, kind: 'Deployment',
      owner: `<s>${name.slice(0, 40)}</s>`, zone: '' };
  });
  const edges = nodes.slice(1).map((n, i) => ({
    id: 'e-' + fnv1a(`${nodes[0].id}\u0000${n.id}\u0000${80 + i}`),
    source: nodes[0].id, target: n.id, server_port: 80 + i,
    bytes_client_to_server: 100, bytes_server_to_client: 200, rate_bytes_per_second: 1,
    connections: 1, active_connections: 0, failed_connects: 0, retransmits: 0,
  }));
  return { generated_at: 1764147600.5, window_seconds: 300, source: 'fixture', nodes, edges };
}
