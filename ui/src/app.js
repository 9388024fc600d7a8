// Caretta web map. Fetches api/graph (relative URL: works behind a path prefix),
// draws it with Cytoscape.js + ELK (layered, namespaces as compound nodes), and
// refreshes in place: existing entities keep their positions, the viewport is
// never reset by a refresh, entities that appear later are placed beside a peer.

import cytoscape from 'cytoscape';
import {
  KINDS, computeVisibility, defaultFilters, edgeLabel, edgeWidth, formatBytes,
  formatCount, formatRate, formatWindow, matchesSearch, namespaceGroupId,
  namespacesOf, nodeSummary, normaliseGraph, placeNewNode, portsOf,
} from './model.js';
import { cytoscapeStyle, kindStyle, legendSwatch } from './style.js';
import { layeredLayout } from './layout.js';

const $ = (id) => document.getElementById(id);

const state = {
  window: Number($('window').value),
  refreshSeconds: Number($('refresh-interval').value),
  filters: defaultFilters(),
  search: '',
  graph: null, // last normalised document
  updates: 0, // successful refreshes applied
  requestSeq: 0,
  timer: null,
  selected: null, // id of the selected node/edge (details panel pinned)
  applying: Promise.resolve(), // serialises document applies
};

const cy = cytoscape({
  container: $('cy'),
  style: cytoscapeStyle(),
  minZoom: 0.1,
  maxZoom: 4,
  boxSelectionEnabled: false,
});

// ---------------------------------------------------------------- escaping
function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function entityTitle(n) {
  if (!n) return '?';
  return n.namespace ? `${n.namespace}/${n.name}` : n.name;
}

// ---------------------------------------------------------------- layout
async function runLayout(eles, fit) {
  if (eles.nodes().empty()) return;
  state.layoutMethod = await layeredLayout(cy, eles);
  if (fit) fitVisible();
}

function fitVisible() {
  const visible = cy.elements().not('.hidden');
  if (visible.length) cy.fit(visible, 30);
}

// ---------------------------------------------------------------- graph sync
function nodeData(n) {
  return {
    id: n.id,
    name: n.name,
    namespace: n.namespace,
    kind: n.kind,
    owner: n.owner,
    zone: n.zone,
  };
}

function edgeData(e, maxRate) {
  return {
    ...e,
    width: edgeWidth(e.rate_bytes_per_second, maxRate),
    label: edgeLabel(e),
  };
}

function edgeClasses(e) {
  const c = [];
  if (e.failed_connects > 0) c.push('failed');
  else if (e.retransmits > 0) c.push('retrans');
  if (!(e.rate_bytes_per_second > 0)) c.push('idle');
  return c.join(' ');
}

// Applies a new document to the Cytoscape model. Returns the ids of entities
// that did not exist before.
function syncGraph(graph) {
  const maxRate = Math.max(0, ...graph.edges.map((e) => e.rate_bytes_per_second));
  const wanted = new Set();
  const added = [];
  cy.batch(() => {
    // Namespace groups.
    for (const ns of namespacesOf(graph)) {
      const id = namespaceGroupId(ns);
      wanted.add(id);
      if (cy.getElementById(id).empty()) {
        cy.add({ group: 'nodes', data: { id, name: ns, namespace: ns, kind: '__namespace' } });
      }
    }
    for (const n of graph.nodes) {
      wanted.add(n.id);
      const existing = cy.getElementById(n.id);
      if (existing.nonempty()) {
        existing.data(nodeData(n));
      } else {
        const data = nodeData(n);
        if (n.namespace) data.parent = namespaceGroupId(n.namespace);
        cy.add({ group: 'nodes', data, position: { x: 0, y: 0 } });
        added.push(n.id);
      }
    }
    for (const e of graph.edges) {
      wanted.add(e.id);
      const existing = cy.getElementById(e.id);
      if (existing.nonempty()) {
        existing.data(edgeData(e, maxRate));
        existing.classes(edgeClasses(e));
      } else {
        cy.add({ group: 'edges', data: edgeData(e, maxRate), classes: edgeClasses(e) });
      }
    }
    // Removed entities and links (and emptied namespaces).
    cy.elements().forEach((ele) => {
      if (!wanted.has(ele.id())) ele.remove();
    });
  });
  return added;
}

function boxOf(eles) {
  if (!eles || eles.empty()) return null;
  const b = eles.boundingBox({ includeLabels: false });
  return Number.isFinite(b.x1) ? b : null;
}

// Gives entities that appeared after the first layout a spot of their own
// without moving anyone else.
function placeAdded(addedIds) {
  const pending = new Set(addedIds);
  const placedPositions = () => cy.nodes().filter((n) => !n.isParent() && !pending.has(n.id()))
    .map((n) => ({ ...n.position() }));
  // Entities with an already placed peer first, then the rest.
  for (let round = 0; round < 2 && pending.size; round++) {
    for (const id of [...pending]) {
      const node = cy.getElementById(id);
      const peers = [];
      node.connectedEdges().forEach((edge) => {
        const other = edge.source().id() === id ? edge.target() : edge.source();
        if (!pending.has(other.id())) {
          peers.push({ ...other.position(), newIsServer: edge.target().id() === id });
        }
      });
      if (round === 0 && peers.length === 0) continue;
      const parent = node.parent();
      const siblings = parent.nonempty() ? parent.children().filter((c) => !pending.has(c.id())) : null;
      const placed = cy.nodes().filter((n) => !n.isParent() && !pending.has(n.id()));
      const pos = placeNewNode({
        peers,
        siblingsBox: boxOf(siblings),
        graphBox: boxOf(placed),
        occupied: placedPositions(),
      });
      node.position(pos);
      pending.delete(id);
    }
  }
}

// ---------------------------------------------------------------- filters
function applyFilters() {
  const graph = state.graph;
  if (!graph) return;
  const vis = computeVisibility(graph, state.filters);
  cy.batch(() => {
    cy.nodes().forEach((n) => {
      if (n.isParent() || n.data('kind') === '__namespace') return;
      n.toggleClass('hidden', !vis.nodes.has(n.id()));
    });
    cy.edges().forEach((e) => e.toggleClass('hidden', !vis.edges.has(e.id())));
    cy.nodes().forEach((n) => {
      if (n.data('kind') !== '__namespace') return;
      const anyChild = n.children().some((c) => !c.hasClass('hidden'));
      n.toggleClass('hidden', !anyChild);
    });
  });
  $('empty').hidden = vis.nodes.size > 0;
  applySearch();
  renderTable(vis);
}

function applySearch() {
  const q = state.search;
  cy.batch(() => {
    cy.elements().removeClass('match faded');
    if (!q.trim() || !state.graph) return;
    const matches = new Set();
    for (const n of state.graph.nodes) if (matchesSearch(n, q)) matches.add(n.id);
    cy.nodes().forEach((n) => {
      if (n.data('kind') === '__namespace') return;
      n.addClass(matches.has(n.id()) ? 'match' : 'faded');
    });
    cy.edges().forEach((e) => {
      if (!matches.has(e.source().id()) && !matches.has(e.target().id())) e.addClass('faded');
    });
  });
}

function checkbox({ label, checked, onChange, swatch = '', count = '' }) {
  const el = document.createElement('label');
  el.className = 'check';
  el.innerHTML = `<input type="checkbox"${checked ? ' checked' : ''}>${swatch}<span class="name">${esc(label)}</span>` +
    (count !== '' ? `<span class="count">${esc(count)}</span>` : '');
  el.querySelector('input').addEventListener('change', (ev) => onChange(ev.target.checked));
  return el;
}

function renderFilterControls() {
  const graph = state.graph;
  if (!graph) return;
  const f = state.filters;

  // Namespaces.
  const nsBox = $('ns-filter');
  const namespaces = namespacesOf(graph);
  const nsKey = namespaces.join('\n') + '|' + [...f.hiddenNamespaces].sort().join('\n');
  if (nsBox.dataset.key !== nsKey) {
    nsBox.dataset.key = nsKey;
    nsBox.replaceChildren(...namespaces.map((ns) => {
      const el = checkbox({
        label: ns,
        checked: !f.hiddenNamespaces.has(ns),
        count: graph.nodes.filter((n) => n.namespace === ns).length,
        onChange: (on) => {
          if (on) f.hiddenNamespaces.delete(ns);
          else f.hiddenNamespaces.add(ns);
          renderFilterControls();
          applyFilters();
        },
      });
      el.dataset.namespace = ns;
      return el;
    }));
  }

  // Kinds (doubles as the legend): every known kind, greyed count when absent.
  const kindBox = $('kind-filter');
  const present = new Map();
  for (const n of graph.nodes) present.set(n.kind, (present.get(n.kind) || 0) + 1);
  const kinds = [...KINDS, ...[...present.keys()].filter((k) => !KINDS.includes(k)).sort()];
  const kindKey = kinds.map((k) => `${k}:${present.get(k) || 0}`).join(',') + '|' + [...f.hiddenKinds].sort().join(',');
  if (kindBox.dataset.key !== kindKey) {
    kindBox.dataset.key = kindKey;
    kindBox.replaceChildren(...kinds.map((kind) => {
      const el = checkbox({
        label: kindStyle(kind).label === 'other' ? kind : kindStyle(kind).label,
        checked: !f.hiddenKinds.has(kind),
        swatch: legendSwatch(kind),
        count: present.get(kind) || 0,
        onChange: (on) => {
          if (on) f.hiddenKinds.delete(kind);
          else f.hiddenKinds.add(kind);
          kindBox.dataset.key = '';
          renderFilterControls();
          applyFilters();
        },
      });
      el.dataset.kind = kind;
      return el;
    }));
  }

  // Workload focus.
  const wl = $('workload-filter');
  const sorted = graph.nodes.slice().sort((a, b) =>
    entityTitle(a).localeCompare(entityTitle(b)) || a.kind.localeCompare(b.kind));
  if (f.workload && !graph.byId.has(f.workload)) f.workload = '';
  const wlKey = sorted.map((n) => n.id).join(',');
  if (wl.dataset.key !== wlKey) {
    wl.dataset.key = wlKey;
    wl.replaceChildren(new Option('(all workloads)', ''),
      ...sorted.map((n) => new Option(`${entityTitle(n)} (${n.kind})`, n.id)));
  }
  wl.value = f.workload;

  // Ports.
  const portSel = $('port-filter');
  const ports = portsOf(graph);
  const portKey = ports.join(',');
  if (portSel.dataset.key !== portKey) {
    portSel.dataset.key = portKey;
    portSel.replaceChildren(new Option('(all ports)', '0'),
      ...ports.map((p) => new Option(String(p), String(p))));
  }
  if (f.port && !ports.includes(f.port)) f.port = 0;
  portSel.value = String(f.port);
  $('hide-infra').checked = f.hideInfra;
}

// ---------------------------------------------------------------- details
function row(label, value, cls = '') {
  return `<tr><td>${esc(label)}</td><td class="${cls}">${esc(value)}</td></tr>`;
}

function edgeDetailsHtml(e) {
  const g = state.graph;
  const c = g.byId.get(e.source);
  const s = g.byId.get(e.target);
  return `<h3>${esc(entityTitle(c))} → ${esc(entityTitle(s))}</h3>
    <div class="kind">link to server port ${esc(e.server_port)}</div>
    <table>
      ${row(`Rate (${formatWindow(g.window_seconds || state.window)} window)`, formatRate(e.rate_bytes_per_second))}
      ${row('Client → server', formatBytes(e.bytes_client_to_server))}
      ${row('Server → client', formatBytes(e.bytes_server_to_client))}
      ${row('Connections', formatCount(e.connections))}
      ${row('Active connections', formatCount(e.active_connections))}
      ${row('Failed connects', formatCount(e.failed_connects), e.failed_connects ? 'bad' : '')}
      ${row('Retransmits', formatCount(e.retransmits), e.retransmits ? 'warn' : '')}
    </table>
    <div class="hint">Totals since agent start; rate = both directions.</div>`;
}

function nodeDetailsHtml(n) {
  const g = state.graph;
  const s = nodeSummary(g, n.id);
  const peers = s.peers.slice(0, 30).map(({ edge, peer, direction }) => {
    const p = g.byId.get(peer);
    const arrow = direction === 'out' ? '→' : '←';
    return `<li><button type="button" class="link" data-select="${esc(edge.id)}">${arrow} ${esc(entityTitle(p))} :${esc(edge.server_port)}</button><span>${esc(formatRate(edge.rate_bytes_per_second))}</span></li>`;
  }).join('');
  return `<h3>${esc(n.name)}</h3>
    <div class="kind">${legendSwatch(n.kind)} ${esc(n.kind)}${n.namespace ? ` in <b>${esc(n.namespace)}</b>` : ''}</div>
    <table>
      <tr><td colspan="2" class="section">As client (${s.asClient.links} links)</td></tr>
      ${row('Sent', formatBytes(s.asClient.sent))}
      ${row('Received', formatBytes(s.asClient.received))}
      ${row('Rate', formatRate(s.asClient.rate))}
      <tr><td colspan="2" class="section">As server (${s.asServer.links} links)</td></tr>
      ${row('Sent', formatBytes(s.asServer.sent))}
      ${row('Received', formatBytes(s.asServer.received))}
      ${row('Rate', formatRate(s.asServer.rate))}
      <tr><td colspan="2" class="section">All links</td></tr>
      ${row('Connections', formatCount(s.connections))}
      ${row('Active connections', formatCount(s.active))}
      ${row('Failed connects', formatCount(s.failed), s.failed ? 'bad' : '')}
      ${row('Retransmits', formatCount(s.retransmits), s.retransmits ? 'warn' : '')}
    </table>
    ${peers ? `<div class="section hint">Peers</div><ul class="peers">${peers}</ul>` : ''}
    <p><button type="button" data-focus="${esc(n.id)}">Focus on this workload</button></p>`;
}

function showDetails(id) {
  const body = $('details-body');
  const g = state.graph;
  if (!g || !id) {
    body.innerHTML = '<p class="hint">Hover or click a workload or a link.</p>';
    return;
  }
  const n = g.byId.get(id);
  const e = n ? null : g.edges.find((x) => x.id === id);
  if (n) body.innerHTML = nodeDetailsHtml(n);
  else if (e) body.innerHTML = edgeDetailsHtml(e);
  else body.innerHTML = '<p class="hint">The selection is no longer in the graph.</p>';
  body.dataset.id = id;
}

$('details-body').addEventListener('click', (ev) => {
  const sel = ev.target.closest('[data-select]');
  if (sel) select(sel.dataset.select);
  const focus = ev.target.closest('[data-focus]');
  if (focus) {
    state.filters.workload = focus.dataset.focus;
    renderFilterControls();
    applyFilters();
  }
});

function select(id) {
  cy.elements().unselect();
  state.selected = id || null;
  if (id) cy.getElementById(id).select();
  showDetails(id);
}

// ---------------------------------------------------------------- tooltip
function tooltipHtml(ele) {
  const g = state.graph;
  if (ele.isEdge()) {
    const e = g.edges.find((x) => x.id === ele.id());
    if (!e) return '';
    return `<b>${esc(entityTitle(g.byId.get(e.source)))} → ${esc(entityTitle(g.byId.get(e.target)))}</b> :${esc(e.server_port)}<br>
      ${esc(formatRate(e.rate_bytes_per_second))} · ↑ ${esc(formatBytes(e.bytes_client_to_server))} ↓ ${esc(formatBytes(e.bytes_server_to_client))}<br>
      <span class="sub">${esc(formatCount(e.connections))} conns · ${esc(formatCount(e.failed_connects))} failed · ${esc(formatCount(e.retransmits))} retrans</span>`;
  }
  const n = g.byId.get(ele.id());
  if (!n) return '';
  const s = nodeSummary(g, n.id);
  return `<b>${esc(entityTitle(n))}</b> <span class="sub">${esc(n.kind)}</span><br>
    out ${esc(formatRate(s.asClient.rate))} · in ${esc(formatRate(s.asServer.rate))}<br>
    <span class="sub">${esc(formatCount(s.connections))} conns · ${esc(formatCount(s.failed))} failed · ${esc(formatCount(s.retransmits))} retrans</span>`;
}

function showTooltip(ele, renderedPos) {
  const html = tooltipHtml(ele);
  const tip = $('tooltip');
  if (!html) {
    tip.hidden = true;
    return;
  }
  tip.innerHTML = html;
  tip.hidden = false;
  const wrap = $('graph-wrap').getBoundingClientRect();
  const x = Math.min(renderedPos.x + 14, wrap.width - tip.offsetWidth - 6);
  const y = Math.min(renderedPos.y + 14, wrap.height - tip.offsetHeight - 6);
  tip.style.left = `${Math.max(4, x)}px`;
  tip.style.top = `${Math.max(4, y)}px`;
}

cy.on('mouseover', 'node, edge', (ev) => {
  if (ev.target.data('kind') === '__namespace') return;
  showTooltip(ev.target, ev.renderedPosition || ev.target.renderedPosition());
  if (!state.selected) showDetails(ev.target.id());
});
cy.on('mousemove', 'node, edge', (ev) => {
  if (!$('tooltip').hidden && ev.renderedPosition) showTooltip(ev.target, ev.renderedPosition);
});
function hideHover() {
  $('tooltip').hidden = true;
  if (!state.selected) showDetails(null);
}
cy.on('mouseout', 'node, edge', hideHover);
// Cytoscape sends no mouseout when the pointer leaves the canvas over an element.
$('cy').addEventListener('mouseleave', hideHover);
cy.on('tap', (ev) => {
  if (ev.target === cy) {
    select(null);
  } else if (ev.target.data('kind') !== '__namespace') {
    select(ev.target.id());
  }
});

// ---------------------------------------------------------------- table
function renderTable(vis) {
  const g = state.graph;
  const rows = g.edges.slice().sort((a, b) => b.rate_bytes_per_second - a.rate_bytes_per_second);
  const tbody = $('links-table').tBodies[0];
  tbody.innerHTML = rows.map((e) => {
    const c = g.byId.get(e.source);
    const s = g.byId.get(e.target);
    const hidden = vis.edges.has(e.id) ? '' : ' class="hidden-row"';
    return `<tr data-edge="${esc(e.id)}"${hidden}><td>${esc(entityTitle(c))} <small>(${esc(c.kind)})</small></td>` +
      `<td>${esc(entityTitle(s))} <small>(${esc(s.kind)})</small></td>` +
      `<td class="num">${esc(e.server_port)}</td><td class="num">${esc(formatRate(e.rate_bytes_per_second))}</td>` +
      `<td class="num">${esc(formatBytes(e.bytes_client_to_server))}</td><td class="num">${esc(formatBytes(e.bytes_server_to_client))}</td>` +
      `<td class="num">${esc(formatCount(e.connections))}</td><td class="num">${esc(formatCount(e.active_connections))}</td>` +
      `<td class="num">${esc(formatCount(e.failed_connects))}</td><td class="num">${esc(formatCount(e.retransmits))}</td></tr>`;
  }).join('');
  $('table-count').textContent = `(${vis.edges.size} of ${g.edges.length})`;
}

$('links-table').addEventListener('click', (ev) => {
  const tr = ev.target.closest('tr[data-edge]');
  if (tr) select(tr.dataset.edge);
});

// ---------------------------------------------------------------- refresh
function setStatus(text, isError = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', isError);
}

async function refresh() {
  const seq = ++state.requestSeq;
  const window = state.window;
  let doc;
  try {
    const res = await fetch(`api/graph?window=${encodeURIComponent(window)}`, {
      cache: 'no-store',
      headers: { Accept: 'application/json' },
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    doc = await res.json();
  } catch (err) {
    if (seq !== state.requestSeq) return false;
    setStatus(`update failed: ${err.message} (showing last data)`, true);
    $('error').textContent = `Cannot load api/graph: ${err.message}`;
    $('error').hidden = state.graph !== null;
    return false;
  }
  // A newer request (e.g. another window) was started meanwhile: drop this one.
  if (seq !== state.requestSeq) return false;
  let graph;
  try {
    graph = normaliseGraph(doc);
  } catch (err) {
    setStatus(`bad graph document: ${err.message}`, true);
    return false;
  }
  $('error').hidden = true;
  // Applies run one after another: the first one awaits the (async) layout.
  const apply = state.applying.then(() => applyGraph(graph, window));
  state.applying = apply.catch(() => {});
  await apply;
  return true;
}

async function applyGraph(graph, window) {
  const first = state.graph === null || cy.nodes().empty();
  state.graph = graph;
  const added = syncGraph(graph);
  renderFilterControls();
  if (first) {
    await runLayout(cy.elements(), false);
    applyFilters();
    fitVisible();
  } else {
    placeAdded(added);
    applyFilters();
  }
  if (state.selected) {
    if (cy.getElementById(state.selected).empty()) select(null);
    else showDetails(state.selected);
  }
  state.updates++;
  document.body.dataset.updates = String(state.updates);
  document.body.dataset.generatedAt = String(graph.generated_at);
  const when = new Date().toLocaleTimeString('en-GB');
  setStatus(`${graph.nodes.length} entities · ${graph.edges.length} links · ${formatWindow(graph.window_seconds || window)} window · updated ${when}` +
    (graph.dropped ? ` · ${graph.dropped} malformed links ignored` : ''));
}

function schedule() {
  clearInterval(state.timer);
  state.timer = null;
  if (state.refreshSeconds > 0) {
    state.timer = setInterval(refresh, state.refreshSeconds * 1000);
  }
}

// ---------------------------------------------------------------- controls
$('window').addEventListener('change', (ev) => {
  state.window = Number(ev.target.value);
  refresh();
});
$('refresh-interval').addEventListener('change', (ev) => {
  state.refreshSeconds = Number(ev.target.value);
  schedule();
});
$('refresh-now').addEventListener('click', () => refresh());
$('fit').addEventListener('click', fitVisible);
$('relayout').addEventListener('click', async () => {
  const visible = cy.elements().not('.hidden');
  await runLayout(visible, true);
});
$('search').addEventListener('input', (ev) => {
  state.search = ev.target.value;
  applySearch();
});
$('search').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter') {
    const matches = cy.nodes('.match').not('.hidden');
    if (matches.nonempty()) cy.animate({ fit: { eles: matches, padding: 80 }, duration: 300 });
  } else if (ev.key === 'Escape') {
    ev.target.value = '';
    state.search = '';
    applySearch();
  }
});
$('hide-infra').addEventListener('change', (ev) => {
  state.filters.hideInfra = ev.target.checked;
  applyFilters();
});
$('workload-filter').addEventListener('change', (ev) => {
  state.filters.workload = ev.target.value;
  applyFilters();
});
$('port-filter').addEventListener('change', (ev) => {
  state.filters.port = Number(ev.target.value);
  applyFilters();
});
$('ns-all').addEventListener('click', () => {
  state.filters.hiddenNamespaces.clear();
  renderFilterControls();
  applyFilters();
});
$('ns-none').addEventListener('click', () => {
  if (state.graph) for (const ns of namespacesOf(state.graph)) state.filters.hiddenNamespaces.add(ns);
  renderFilterControls();
  applyFilters();
});
$('clear-filters').addEventListener('click', () => {
  state.filters = defaultFilters();
  $('kind-filter').dataset.key = '';
  $('ns-filter').dataset.key = '';
  renderFilterControls();
  applyFilters();
});

// Keep the canvas in step with its box (side panels, links table, window size).
new ResizeObserver(() => cy.resize()).observe($('cy'));

// Handle for tests and for debugging from the browser console.
const ready = refresh().then(() => {
  schedule();
  return true;
});
window.caretta = { cy, state, refresh, ready, applyFilters, renderFilterControls };
