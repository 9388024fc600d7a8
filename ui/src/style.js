// Visual encoding: one shape and one colour per entity kind, shared by the
// Cytoscape stylesheet and the legend.

export const KIND_STYLE = {
  Deployment: { shape: 'round-rectangle', color: '#4e79a7', label: 'Deployment' },
  StatefulSet: { shape: 'barrel', color: '#9c6ade', label: 'StatefulSet' },
  DaemonSet: { shape: 'hexagon', color: '#2a9d8f', label: 'DaemonSet' },
  CronJob: { shape: 'diamond', color: '#f28e2b', label: 'CronJob' },
  Job: { shape: 'round-diamond', color: '#e0b000', label: 'Job' },
  ReplicaSet: { shape: 'round-tag', color: '#7aa6d6', label: 'ReplicaSet' },
  Pod: { shape: 'ellipse', color: '#8d99ae', label: 'Pod' },
  Service: { shape: 'round-triangle', color: '#59a14f', label: 'Service' },
  node: { shape: 'rectangle', color: '#495057', label: 'node (host)' },
  external: { shape: 'star', color: '#e15759', label: 'external' },
};

const FALLBACK = { shape: 'ellipse', color: '#adb5bd', label: 'other' };

export function kindStyle(kind) {
  return KIND_STYLE[kind] || FALLBACK;
}

export const EDGE_COLOR = '#7d8ea3';
export const EDGE_FAILED_COLOR = '#d62828';
export const EDGE_RETRANS_COLOR = '#f77f00';

export function cytoscapeStyle() {
  const style = [
    {
      selector: 'node',
      style: {
        label: 'data(name)',
        'font-family': 'DejaVu Sans, Liberation Sans, Arial, sans-serif',
        'font-size': 12,
        color: '#1d2733',
        'text-valign': 'bottom',
        'text-halign': 'center',
        'text-margin-y': 4,
        'text-outline-color': '#ffffff',
        'text-outline-width': 2,
        'text-max-width': 140,
        'min-zoomed-font-size': 6,
        'text-wrap': 'ellipsis',
        width: 34,
        height: 34,
        'background-color': FALLBACK.color,
        'border-width': 1.5,
        'border-color': '#ffffff',
        shape: FALLBACK.shape,
      },
    },
  ];
  for (const [kind, s] of Object.entries(KIND_STYLE)) {
    style.push({
      selector: `node[kind = "${kind}"]`,
      style: { shape: s.shape, 'background-color': s.color },
    });
  }
  style.push(
    {
      selector: 'node[kind = "Service"]',
      style: { width: 32, height: 30 },
    },
    {
      selector: 'node[kind = "node"], node[kind = "external"]',
      style: { width: 36, height: 36 },
    },
    {
      // Namespace groups (compound nodes).
      selector: ':parent',
      style: {
        shape: 'round-rectangle',
        label: 'data(name)',
        'font-size': 14,
        'font-weight': 'bold',
        color: '#33475b',
        'text-valign': 'top',
        'text-halign': 'center',
        'text-margin-y': -4,
        'text-outline-width': 0,
        'background-color': '#eef3f8',
        'background-opacity': 0.85,
        'border-width': 1,
        'border-color': '#b8c7d9',
        'border-style': 'solid',
        padding: 18,
      },
    },
    {
      selector: 'edge',
      style: {
        width: 'data(width)',
        'line-color': EDGE_COLOR,
        'target-arrow-color': EDGE_COLOR,
        'target-arrow-shape': 'triangle',
        'arrow-scale': 0.9,
        'curve-style': 'bezier',
        opacity: 0.85,
        label: 'data(label)',
        'font-family': 'DejaVu Sans, Liberation Sans, Arial, sans-serif',
        'font-size': 10,
        color: '#3d4b5c',
        'text-background-color': '#ffffff',
        'text-background-opacity': 0.9,
        'text-background-padding': 2,
        'text-background-shape': 'round-rectangle',
        'min-zoomed-font-size': 7,
      },
    },
    {
      selector: 'edge.idle',
      style: { 'line-style': 'dashed', opacity: 0.6 },
    },
    {
      selector: 'edge.retrans',
      style: { 'line-color': EDGE_RETRANS_COLOR, 'target-arrow-color': EDGE_RETRANS_COLOR },
    },
    {
      selector: 'edge.failed',
      style: { 'line-color': EDGE_FAILED_COLOR, 'target-arrow-color': EDGE_FAILED_COLOR },
    },
    { selector: '.hidden', style: { display: 'none' } },
    { selector: '.faded', style: { opacity: 0.15, 'text-opacity': 0.25 } },
    {
      selector: 'node.match',
      style: { 'border-width': 4, 'border-color': '#ffb703', 'font-weight': 'bold' },
    },
    {
      selector: 'node:selected',
      style: { 'border-width': 4, 'border-color': '#023e8a', 'overlay-opacity': 0 },
    },
    {
      selector: 'edge:selected',
      style: {
        'line-color': '#023e8a', 'target-arrow-color': '#023e8a', opacity: 1,
        'overlay-opacity': 0,
      },
    },
    { selector: ':parent:selected', style: { 'border-width': 2 } },
  );
  return style;
}

// Small inline SVG of a kind's shape for the legend (no external resources).
export function legendSwatch(kind) {
  const s = kindStyle(kind);
  const c = s.color;
  const shapes = {
    'round-rectangle': `<rect x="2" y="3" width="14" height="12" rx="3" fill="${c}"/>`,
    barrel: `<path d="M4 3 Q9 1 14 3 Q16 9 14 15 Q9 17 4 15 Q2 9 4 3Z" fill="${c}"/>`,
    hexagon: `<polygon points="5,2 13,2 17,9 13,16 5,16 1,9" fill="${c}"/>`,
    diamond: `<polygon points="9,1 17,9 9,17 1,9" fill="${c}"/>`,
    'round-diamond': `<polygon points="9,2 16,9 9,16 2,9" fill="${c}" stroke="${c}" stroke-width="2" stroke-linejoin="round"/>`,
    'round-tag': `<path d="M2 4 H12 L16 9 L12 14 H2 Z" fill="${c}" stroke="${c}" stroke-linejoin="round"/>`,
    ellipse: `<circle cx="9" cy="9" r="7" fill="${c}"/>`,
    'round-triangle': `<polygon points="9,3 16,15 2,15" fill="${c}" stroke="${c}" stroke-width="2" stroke-linejoin="round"/>`,
    rectangle: `<rect x="2" y="2" width="14" height="14" fill="${c}"/>`,
    star: `<polygon points="9,1 11,7 17,7 12,11 14,17 9,13 4,17 6,11 1,7 7,7" fill="${c}"/>`,
  };
  const body = shapes[s.shape] || shapes.ellipse;
  return `<svg class="swatch" width="18" height="18" viewBox="0 0 18 18" aria-hidden="true">${body}</svg>`;
}
