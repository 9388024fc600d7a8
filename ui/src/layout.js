// Layered layout with ELK (elkjs), namespaces as nested graphs. Our own small
// adapter instead of a Cytoscape extension so that an ELK failure is caught:
// we then retry with simpler options and finally fall back to Cytoscape's
// built-in compound-aware "cose" layout — the map must never stay blank.
import ELK from 'elkjs/lib/elk.bundled.js';

const elk = new ELK();

// ELK reads most options per (sub)graph, so namespace groups get them too.
const SPACING = {
  'elk.spacing.nodeNode': 26,
  'elk.layered.spacing.nodeNodeBetweenLayers': 55,
  'elk.layered.spacing.edgeNodeBetweenLayers': 15,
  'elk.spacing.edgeNode': 15,
  'elk.spacing.componentComponent': 40,
};

const ATTEMPTS = [
  {
    root: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'POLYLINE', // Cytoscape draws its own curves
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      ...SPACING,
    },
    group: { ...SPACING, 'elk.edgeRouting': 'POLYLINE', 'elk.padding': '[top=30,left=16,bottom=16,right=16]' },
  },
  {
    root: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'SEPARATE_CHILDREN',
      ...SPACING,
    },
    group: { ...SPACING, 'elk.padding': '[top=30,left=16,bottom=16,right=16]' },
  },
];

const DIMS = { nodeDimensionsIncludeLabels: true };

function buildGraph(eles, attempt) {
  const nodes = eles.nodes();
  const inSet = new Set(nodes.map((n) => n.id()));
  const byId = new Map();
  const root = { id: '__root', layoutOptions: attempt.root, children: [], edges: [] };
  nodes.forEach((n) => {
    const k = { id: n.id(), children: [] };
    if (n.isParent()) {
      k.layoutOptions = attempt.group;
    } else {
      const d = n.layoutDimensions(DIMS);
      k.width = d.w;
      k.height = d.h;
    }
    byId.set(n.id(), k);
  });
  nodes.forEach((n) => {
    const parent = n.parent();
    const container = parent.nonempty() && inSet.has(parent.id()) ? byId.get(parent.id()) : root;
    container.children.push(byId.get(n.id()));
  });
  eles.edges().forEach((e) => {
    const s = e.source().id();
    const t = e.target().id();
    if (s === t || !byId.has(s) || !byId.has(t)) return; // self loops need no layout
    root.edges.push({ id: e.id(), sources: [s], targets: [t] });
  });
  return root;
}

// Absolute centre positions of the leaves of an ELK result.
function positions(graph) {
  const out = new Map();
  const walk = (k, ox, oy) => {
    for (const c of k.children || []) {
      const x = ox + (c.x || 0);
      const y = oy + (c.y || 0);
      if (c.children && c.children.length) walk(c, x, y);
      else out.set(c.id, { x: x + (c.width || 0) / 2, y: y + (c.height || 0) / 2 });
    }
  };
  walk(graph, 0, 0);
  return out;
}

// Lays out `eles` (nodes with their groups, and edges). Resolves to the name of
// the method that succeeded.
export async function layeredLayout(cy, eles) {
  const leaves = eles.nodes().filter((n) => !n.isParent());
  if (leaves.empty()) return 'none';
  for (let i = 0; i < ATTEMPTS.length; i++) {
    try {
      const result = await elk.layout(buildGraph(eles, ATTEMPTS[i]));
      const pos = positions(result);
      if (leaves.some((n) => !pos.has(n.id()))) throw new Error('ELK result lacks nodes');
      cy.batch(() => leaves.forEach((n) => n.position(pos.get(n.id()))));
      return i === 0 ? 'elk' : 'elk-simple';
    } catch (err) {
      console.warn(`layout: ELK attempt ${i + 1} failed: ${err && err.message}`);
    }
  }
  const fallback = eles.layout({ name: 'cose', animate: false, fit: false, nodeDimensionsIncludeLabels: true });
  const done = fallback.promiseOn('layoutstop');
  fallback.run();
  await done;
  return 'cose';
}
