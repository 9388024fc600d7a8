// Unit tests of the web map's pure logic (ui/src/model.js), node:test.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  computeVisibility, defaultFilters, edgeWidth, formatBytes, formatRate, formatWindow,
  matchesSearch, nodeSummary, normaliseGraph, placeNewNode,
} from '../../ui/src/model.js';
import { graph as fixtureGraph } from './fixture_graph.mjs';

const g = () => normaliseGraph(fixtureGraph(0, 300));
const byName = (graph, name, kind) => graph.nodes.find((n) => n.name === name && (!kind || n.kind === kind));
const visibleNames = (graph, vis) => graph.nodes.filter((n) => vis.nodes.has(n.id)).map((n) => n.name).sort();

test('formatting', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(5 * 1024 * 1024), '5.00 MiB');
  assert.equal(formatRate(12.5), '13 B/s');
  assert.equal(formatRate(0.5), '0.50 B/s');
  assert.equal(formatWindow(300), '5m');
  assert.equal(formatWindow(3600), '1h');
  assert.equal(formatWindow(45), '45s');
});

test('normalise keeps the contract fields and drops dangling edges', () => {
  const doc = fixtureGraph(0, 300);
  doc.edges.push({ id: 'e-bad', source: 'n-missing', target: doc.nodes[0].id, server_port: 1 });
  doc.edges.push({ ...doc.edges[0] }); // duplicate id
  const graph = normaliseGraph(doc);
  assert.equal(graph.nodes.length, doc.nodes.length);
  assert.equal(graph.edges.length, doc.edges.length - 2);
  assert.equal(graph.dropped, 2);
  assert.throws(() => normaliseGraph({ nodes: 'x' }), /arrays/);
  // Caretta labels hosts and outside addresses with pseudo-namespaces.
  const agentStyle = normaliseGraph({
    nodes: [{ id: 'a', name: 'vm', namespace: 'node', kind: 'node' },
      { id: 'b', name: '1.2.3.4', namespace: 'external', kind: 'external' },
      { id: 'c', name: 'web', namespace: 'shop', kind: 'Deployment' }],
    edges: [],
  });
  assert.deepEqual(agentStyle.nodes.map((n) => n.namespace), ['', '', 'shop']);
  assert.throws(() => normaliseGraph(null), /JSON object/);
});

test('edge width grows with the rate, 1..10 px', () => {
  assert.equal(edgeWidth(0, 1000), 1);
  assert.equal(edgeWidth(1000, 1000), 10);
  assert.ok(edgeWidth(10, 1000) < edgeWidth(100, 1000));
  assert.equal(edgeWidth(5, 0), 1);
});

test('no filters: everything visible', () => {
  const graph = g();
  const vis = computeVisibility(graph, defaultFilters());
  assert.equal(vis.nodes.size, graph.nodes.length);
  assert.equal(vis.edges.size, graph.edges.length);
});

test('namespace filter hides exactly the other namespaces', () => {
  const graph = g();
  const f = defaultFilters();
  f.hiddenNamespaces = new Set(['shop', 'monitoring']);
  const vis = computeVisibility(graph, f);
  for (const n of graph.nodes) {
    if (n.namespace === 'payments') assert.ok(vis.nodes.has(n.id), n.name);
    else if (n.namespace) assert.ok(!vis.nodes.has(n.id), n.name);
  }
  // Entities outside namespaces stay only as peers of what is shown.
  assert.ok(vis.nodes.has(byName(graph, 'api.stripe.com').id));
  assert.ok(!vis.nodes.has(byName(graph, 'worker-1').id));
});

test('kind, infra, port and workload filters', () => {
  const graph = g();
  let f = defaultFilters();
  f.hideInfra = true;
  let vis = computeVisibility(graph, f);
  assert.ok(graph.nodes.every((n) => vis.nodes.has(n.id) === !['node', 'external'].includes(n.kind)));

  f = defaultFilters();
  f.port = 5432;
  vis = computeVisibility(graph, f);
  assert.deepEqual(visibleNames(graph, vis), ['db-migrate', 'ledger-db', 'payment']);
  assert.ok(graph.edges.every((e) => vis.edges.has(e.id) === (e.server_port === 5432)));

  f = defaultFilters();
  f.workload = byName(graph, 'cart').id;
  vis = computeVisibility(graph, f);
  assert.deepEqual(visibleNames(graph, vis), ['cart', 'debug-shell', 'frontend', 'redis-cart']);

  f = defaultFilters();
  f.hiddenKinds = new Set(['Service']);
  vis = computeVisibility(graph, f);
  assert.ok(graph.nodes.every((n) => vis.nodes.has(n.id) === (n.kind !== 'Service')));
});

test('search matches name, namespace and kind terms', () => {
  const graph = g();
  assert.ok(matchesSearch(byName(graph, 'ledger-db'), 'ledger'));
  assert.ok(matchesSearch(byName(graph, 'ledger-db'), 'payments statefulset'));
  assert.ok(!matchesSearch(byName(graph, 'ledger-db'), 'shop'));
  assert.ok(!matchesSearch(byName(graph, 'ledger-db'), '  '));
});

test('node summary adds up both roles', () => {
  const graph = g();
  const s = nodeSummary(graph, byName(graph, 'payment', 'Deployment').id);
  assert.equal(s.asClient.links, 2); // stripe, ledger-db
  assert.equal(s.asServer.links, 1); // checkout
  assert.equal(s.asClient.sent, 33_000 + 150_000);
  assert.equal(s.asServer.received, 58_000);
  assert.equal(s.failed, 1);
  assert.equal(s.retransmits, 2);
  assert.equal(s.peers.length, 3);
});

test('new entities are placed beside a peer, clear of others', () => {
  const occupied = [{ x: 0, y: 0 }, { x: 160, y: 0 }, { x: 160, y: 70 }];
  const p = placeNewNode({ peers: [{ x: 0, y: 0, newIsServer: true }], occupied });
  assert.equal(p.x, 160);
  assert.ok(occupied.every((o) => Math.hypot(o.x - p.x, o.y - p.y) >= 70));
  const q = placeNewNode({ peers: [], siblingsBox: null, graphBox: { x1: 0, y1: 0, x2: 100, y2: 100 }, occupied });
  assert.deepEqual(q, { x: 40, y: 220 });
});
