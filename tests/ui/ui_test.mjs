// Browser test of the web map (ctest label "ui").
// Headless Debian Chromium driven by playwright-core (from ui/node_modules; no
// browser is ever downloaded) against:
//   - CARETTA_UI_URL unset: a fixture server on 127.0.0.1 (ui/dist + fixture graph)
//   - CARETTA_UI_URL=http://127.0.0.1:7117/ : a running agent (or anything serving
//     the map and api/graph), then the expectations come from its api/graph.
// Other env: CHROMIUM (default /usr/bin/chromium), CARETTA_UI_ARTIFACTS (dir for
// the screenshot, default cwd), CARETTA_UI_DOCS_SCREENSHOT (also write the
// screenshot there, e.g. docs/ui.png).
// Exit: 0 all passed, 1 a check failed, 77 skipped (reason printed).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const uiDir = path.resolve(here, '../../ui');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = path.resolve(process.env.CARETTA_UI_ARTIFACTS || process.cwd());
const externalUrl = process.env.CARETTA_UI_URL || '';

function skip(reason) {
  console.log(`SKIP: ${reason}`);
  process.exit(77);
}

if (!fs.existsSync(chromiumPath)) {
  skip(`${chromiumPath} not found (Debian package "chromium"; scripts/setup.sh installs it)`);
}
if (!fs.existsSync(path.join(uiDir, 'node_modules', 'playwright-core', 'package.json'))) {
  skip('ui/node_modules/playwright-core missing (run scripts/setup.sh, which runs npm ci in ui/)');
}
if (!externalUrl && !fs.existsSync(path.join(uiDir, 'dist', 'index.html'))) {
  console.error('FAIL: ui/dist/index.html missing: run ui/build.sh (scripts/setup.sh does)');
  process.exit(1);
}

const requireUi = createRequire(path.join(uiDir, 'package.json'));
const { chromium } = requireUi('playwright-core');
const { graph: fixtureGraph, hostileGraph, HOSTILE_MARK, HOSTILE_NAMES } = await import('./fixture_graph.mjs');
const { startFixtureServer } = await import('./fixture_server.mjs');

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// ------------------------------------------------------------ tiny harness
const results = [];
const isInfra = (n) => n.kind === 'node' || n.kind === 'external';
const docNamespaces = (doc) =>
  [...new Set(doc.nodes.filter((n) => !isInfra(n)).map((n) => n.namespace).filter(Boolean))].sort();
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   - ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`FAIL - ${name}: ${err && err.stack ? err.stack : err}`);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
function assertEq(actual, expected, msg) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg}\n  expected ${e}\n  actual   ${a}`);
}

// ------------------------------------------------------------ set-up
const fixture = externalUrl ? null : await startFixtureServer();
const baseUrl = externalUrl ? (externalUrl.endsWith('/') ? externalUrl : externalUrl + '/') : fixture.url;
const origin = new URL(baseUrl).origin;
console.log(`# map under test: ${baseUrl}${fixture ? ' (fixture server)' : ''}`);

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'caretta-ui-chromium-'));
let context;
const consoleErrors = [];
const requests = [];
let exitCode = 1;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1600, height: 960 },
    deviceScaleFactor: 1,
    timeout: 30_000,
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`console.error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
  page.on('request', (req) => requests.push(req.url()));
  // The last api/graph document the page received (the oracle for a real agent,
  // whose graph can change between two fetches).
  let lastGraphDoc = null;
  page.on('response', async (res) => {
    if (!res.url().includes('api/graph') || !res.ok()) return;
    try {
      lastGraphDoc = await res.json();
    } catch {
      // ignore: the page reports bad documents itself
    }
  });

  // Entities and links as the page's graph model holds them.
  // Waits two frames so Cytoscape's derived state (compound bounds) settles.
  const settle = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const model = async () => { await settle(); return page.evaluate(() => {
    const { cy } = window.caretta;
    const nodes = cy.nodes().filter((n) => n.data('kind') !== '__namespace').map((n) => ({
      id: n.id(), name: n.data('name'), namespace: n.data('namespace'), kind: n.data('kind'),
      parent: n.parent().nonempty() ? n.parent().id() : '', visible: n.visible(),
      x: n.position('x'), y: n.position('y'),
    }));
    const edges = cy.edges().map((e) => ({
      id: e.id(), source: e.source().id(), target: e.target().id(), port: e.data('server_port'),
      rate: e.data('rate_bytes_per_second'), label: e.data('label'), width: e.data('width'),
      visible: e.visible(),
    }));
    return { nodes, edges, zoom: cy.zoom(), pan: cy.pan() };
  }); };
  const updates = () => page.evaluate(() => Number(document.body.dataset.updates || 0));
  async function waitForUpdate(after) {
    await page.waitForFunction((n) => Number(document.body.dataset.updates || 0) > n, after);
  }
  const expectedDoc = async (windowSeconds = 300) => {
    if (fixture) return fixtureGraph(currentVersion, windowSeconds);
    const shown = await page.evaluate(() => document.body.dataset.generatedAt);
    for (let i = 0; i < 50 && String(lastGraphDoc?.generated_at) !== shown; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return lastGraphDoc;
  };
  let currentVersion = 0;

  await check('page loads and draws the graph', async () => {
    const res = await page.goto(baseUrl, { waitUntil: 'load' });
    assert(res && res.ok(), `GET ${baseUrl} -> ${res && res.status()}`);
    await page.waitForFunction(() => window.caretta && Number(document.body.dataset.updates || 0) >= 1);
    assertEq(await page.title(), 'Caretta — service map', 'title');
  });

  await check('expected nodes and edges are in the graph model', async () => {
    const doc = await expectedDoc();
    const m = await model();
    const byId = new Map(m.nodes.map((n) => [n.id, n]));
    assertEq(m.nodes.length, doc.nodes.length, 'node count');
    for (const n of doc.nodes) {
      const got = byId.get(n.id);
      assert(got, `node ${n.namespace}/${n.name} (${n.kind}) missing`);
      // node/external entities are drawn outside namespaces, whatever label they carry.
      const ns = isInfra(n) ? '' : n.namespace;
      assertEq([got.name, got.namespace, got.kind], [n.name, ns, n.kind], `node ${n.id}`);
      assertEq(got.parent, ns ? `ns:${ns}` : '', `namespace group of ${n.name}`);
    }
    const edgeKeys = m.edges.map((e) => `${e.source}>${e.target}:${e.port}`).sort();
    assertEq(edgeKeys, doc.edges.map((e) => `${e.source}>${e.target}:${e.server_port}`).sort(), 'edges');
    if (fixture) {
      const names = new Set(m.nodes.map((n) => n.name));
      for (const name of ['frontend', 'checkout', 'redis-cart', 'payment', 'ledger-db', 'node-exporter',
        'email-digest', 'worker-1', 'api.stripe.com', '203.0.113.7']) {
        assert(names.has(name), `fixture entity ${name} missing`);
      }
      const kinds = new Set(m.nodes.map((n) => n.kind));
      for (const k of ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet', 'Pod',
        'Service', 'node', 'external']) assert(kinds.has(k), `kind ${k} missing`);
    }
    // Width grows with the rate.
    const sorted = m.edges.slice().sort((a, b) => a.rate - b.rate);
    if (sorted.length && sorted[0].rate < sorted[sorted.length - 1].rate) {
      assert(sorted[0].width < sorted[sorted.length - 1].width, 'line width does not follow rate');
    }
    assert(m.nodes.every((n) => n.visible), 'not every entity is visible without filters');
  });

  await check('names are in the DOM (links table, filters, legend)', async () => {
    const doc = await expectedDoc();
    const table = await page.locator('#links-table tbody').textContent();
    const rows = await page.locator('#links-table tbody tr').count();
    assertEq(rows, doc.edges.length, 'links table rows');
    for (const n of doc.nodes) assert(table.includes(n.name), `links table lacks ${n.name}`);
    const nsNames = await page.locator('#ns-filter label').allInnerTexts();
    const namespaces = docNamespaces(doc);
    assertEq(nsNames.map((t) => t.split('\n')[0].trim()), namespaces, 'namespace filter entries');
    const legend = await page.locator('#kind-filter').innerText();
    for (const k of ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Service', 'node', 'external']) {
      assert(legend.includes(k), `legend lacks ${k}`);
    }
    assert(await page.locator('#kind-filter svg.swatch').count() >= 10, 'legend swatches missing');
  });

  await check('namespace filter hides exactly the other namespaces', async () => {
    const doc = await expectedDoc();
    const namespaces = docNamespaces(doc);
    if (!fixture && namespaces.length < 2) {
      console.log(`# (fewer than two namespaces in this graph: ${namespaces.join(', ') || 'none'}; nothing to filter)`);
      return;
    }
    assert(namespaces.length >= 2, 'need two namespaces');
    const keep = fixture ? 'payments' : namespaces[0];
    for (const ns of namespaces) {
      if (ns !== keep) await page.locator(`#ns-filter label[data-namespace="${ns}"] input`).uncheck();
    }
    const m = await model();
    const byId = new Map(m.nodes.map((n) => [n.id, n]));
    for (const n of m.nodes) {
      if (n.namespace === keep) assert(n.visible, `${keep}/${n.name} hidden`);
      else if (n.namespace) assert(!n.visible, `${n.namespace}/${n.name} still visible`);
    }
    for (const e of m.edges) {
      const s = byId.get(e.source);
      const t = byId.get(e.target);
      const shouldShow = [s, t].every((x) => x.namespace === keep || x.namespace === '') &&
        [s, t].some((x) => x.namespace === keep);
      assertEq(e.visible, shouldShow, `edge ${s.name}->${t.name}:${e.port} visibility`);
    }
    if (fixture) {
      const visible = (name) => m.nodes.find((n) => n.name === name).visible;
      assert(visible('api.stripe.com'), 'external peer of payments hidden');
      assert(!visible('worker-1'), 'node without a link into payments shown');
    }
    const groups = await page.evaluate(() => window.caretta.cy.nodes('[kind = "__namespace"]')
      .map((g) => [g.id(), g.visible()]));
    for (const [id, vis] of groups) assertEq(vis, id === `ns:${keep}`, `group ${id} visibility`);
    await page.locator('#ns-all').click();
    const after = await model();
    const stillHidden = after.nodes.filter((n) => !n.visible).map((n) => n.name);
    assertEq(stillHidden, [], '"all" did not restore every namespace');
  });

  await check('kind, node/external, port and workload filters', async () => {
    await page.locator('#hide-infra').check();
    let m = await model();
    for (const n of m.nodes) {
      const infra = n.kind === 'node' || n.kind === 'external';
      assertEq(n.visible, !infra, `hide node/external: ${n.name}`);
    }
    await page.locator('#hide-infra').uncheck();
    await page.locator('#kind-filter label[data-kind="Service"] input').uncheck();
    m = await model();
    for (const n of m.nodes) assertEq(n.visible, n.kind !== 'Service', `kind filter: ${n.name}`);
    await page.locator('#kind-filter label[data-kind="Service"] input').check();
    const port = fixture ? '5432' : String(m.edges[0].port);
    await page.locator('#port-filter').selectOption(port);
    m = await model();
    assert(m.edges.some((e) => e.visible), 'port filter hid everything');
    for (const e of m.edges) assertEq(e.visible, String(e.port) === port, `port filter edge ${e.id}`);
    await page.locator('#port-filter').selectOption('0');
    const target = fixture ? m.nodes.find((n) => n.name === 'ledger-db') : m.nodes[0];
    await page.locator('#workload-filter').selectOption(target.id);
    m = await model();
    const peers = new Set([target.id]);
    for (const e of m.edges) {
      if (e.source === target.id) peers.add(e.target);
      if (e.target === target.id) peers.add(e.source);
    }
    for (const n of m.nodes) assertEq(n.visible, peers.has(n.id), `focus: ${n.name}`);
    await page.locator('#clear-filters').click();
    m = await model();
    assert(m.nodes.every((n) => n.visible) && m.edges.every((e) => e.visible), 'clear filters');
  });

  await check('search highlights matching workloads', async () => {
    const m = await model();
    const target = fixture ? m.nodes.find((n) => n.name === 'ledger-db') : m.nodes[0];
    await page.locator('#search').fill(target.name.slice(0, 6));
    const cls = await page.evaluate((id) => {
      const { cy } = window.caretta;
      return { match: cy.$id(id).hasClass('match'), faded: cy.nodes('.faded').length };
    }, target.id);
    assert(cls.match, 'search did not highlight the workload');
    assert(cls.faded > 0, 'search did not fade the others');
    await page.locator('#search').press('Escape');
    assertEq(await page.evaluate(() => window.caretta.cy.elements('.match, .faded').length), 0, 'search cleared');
  });

  // Page coordinates of a node / edge midpoint on the canvas.
  async function screenPoint(selector) {
    const box = await page.locator('#cy').boundingBox();
    const p = await page.evaluate((sel) => {
      const ele = window.caretta.cy.$(sel);
      return ele.isEdge() ? ele.renderedMidpoint() : ele.renderedPosition();
    }, selector);
    return { x: box.x + p.x, y: box.y + p.y };
  }

  await check('hover and click show totals both ways', async () => {
    await page.evaluate(() => { window.caretta.cy.fit(undefined, 30); });
    const m = await model();
    const doc = await expectedDoc();
    const node = fixture ? m.nodes.find((n) => n.name === 'payment' && n.kind === 'Deployment') : m.nodes[0];
    let pt = await screenPoint(`#${node.id}`);
    await page.mouse.move(pt.x, pt.y);
    await page.locator('#tooltip').waitFor({ state: 'visible' });
    assert((await page.locator('#tooltip').innerText()).includes(node.name), 'tooltip lacks the name');
    await page.mouse.click(pt.x, pt.y);
    let details = await page.locator('#details-body').innerText();
    for (const word of ['As client', 'As server', 'Connections', 'Failed connects', 'Retransmits', node.name]) {
      assert(details.toLowerCase().includes(word.toLowerCase()), `node details lack "${word}":\n${details}`);
    }
    // An edge: pick the busiest, click its midpoint.
    const e = doc.edges.slice().sort((a, b) => b.rate_bytes_per_second - a.rate_bytes_per_second)[0];
    pt = await screenPoint(`#${e.id}`);
    await page.mouse.click(pt.x, pt.y);
    const selected = await page.evaluate(() => window.caretta.state.selected);
    assertEq(selected, e.id, 'clicked edge selected');
    details = await page.locator('#details-body').innerText();
    for (const word of ['Client → server', 'Server → client', 'Connections', 'Failed connects', 'Retransmits',
      `port ${e.server_port}`]) {
      assert(details.includes(word), `edge details lack "${word}":\n${details}`);
    }
    // Clicking the background clears the selection.
    const box = await page.locator('#cy').boundingBox();
    await page.mouse.click(box.x + 5, box.y + box.height - 5);
    assertEq(await page.evaluate(() => window.caretta.state.selected), null, 'background click clears');
  });

  await check('refresh keeps positions and the user zoom; new entities get a place', async () => {
    // The user zooms in somewhere.
    await page.evaluate(() => {
      const { cy } = window.caretta;
      cy.zoom({ level: cy.zoom() * 1.4, renderedPosition: { x: 300, y: 200 } });
      cy.panBy({ x: -40, y: 25 });
    });
    const before = await model();
    if (fixture) {
      fixture.setVersion(1);
      currentVersion = 1;
    }
    const n = await updates();
    await page.locator('#refresh-now').click();
    await waitForUpdate(n);
    const after = await model();
    const pos = new Map(after.nodes.map((x) => [x.id, x]));
    for (const b of before.nodes) {
      const a = pos.get(b.id);
      if (!a) continue; // gone from the real agent's graph meanwhile
      assert(Math.abs(a.x - b.x) < 0.01 && Math.abs(a.y - b.y) < 0.01,
        `${b.name} moved from (${b.x},${b.y}) to (${a.x},${a.y})`);
    }
    assert(Math.abs(after.zoom - before.zoom) < 1e-9, `zoom changed ${before.zoom} -> ${after.zoom}`);
    assert(Math.abs(after.pan.x - before.pan.x) < 1e-6 && Math.abs(after.pan.y - before.pan.y) < 1e-6,
      'pan changed');
    if (fixture) {
      const doc = fixtureGraph(1, 300);
      assertEq(after.nodes.length, doc.nodes.length, 'node count after refresh');
      assertEq(after.edges.length, doc.edges.length, 'edge count after refresh');
      const added = after.nodes.find((x) => x.name === 'recommendation');
      assert(added && added.visible, 'new workload not shown');
      for (const o of after.nodes) {
        if (o.id === added.id) continue;
        const d = Math.hypot(o.x - added.x, o.y - added.y);
        assert(d >= 40, `new workload placed on top of ${o.name} (${d.toFixed(1)} px)`);
      }
      const changed = after.edges.filter((e) => {
        const old = before.edges.find((x) => x.id === e.id);
        return old && old.label !== e.label;
      });
      assert(changed.length > 0, 'rates did not update');
      const table = await page.locator('#links-table tbody').textContent();
      assert(table.includes('recommendation'), 'links table not refreshed');
    }
  });

  await check('auto-refresh runs on its own', async () => {
    const n = await updates();
    await page.locator('#refresh-interval').selectOption('5');
    await page.waitForFunction((k) => Number(document.body.dataset.updates || 0) > k, n, { timeout: 12_000 });
    await page.locator('#refresh-interval').selectOption('0');
  });

  await check('time window selector changes the query', async () => {
    const n = await updates();
    await page.locator('#window').selectOption('3600');
    await waitForUpdate(n);
    assert(requests.some((u) => u.includes('api/graph?window=3600')), 'no api/graph?window=3600 request');
    const status = await page.locator('#status').innerText();
    assert(status.includes('1h window'), `status: ${status}`);
    if (fixture) {
      const m = await model();
      const doc = fixtureGraph(currentVersion, 3600);
      const rates = new Map(doc.edges.map((e) => [e.id, e.rate_bytes_per_second]));
      for (const e of m.edges) assertEq(e.rate, rates.get(e.id), `rate of ${e.id} for 1h window`);
    }
    await page.locator('#window').selectOption('300');
    await waitForUpdate(n + 1);
  });

  await check('screenshot', async () => {
    await page.locator('#search').fill('');
    await page.locator('#table-panel summary').click(); // open the links table
    await settle();
    await page.evaluate(() => { window.caretta.cy.fit(undefined, 30); });
    await page.mouse.move(2, 2);
    const m = await model();
    const pick = fixture ? m.nodes.find((n) => n.name === 'checkout') : m.nodes[0];
    const pt = await screenPoint(`#${pick.id}`);
    await page.mouse.click(pt.x, pt.y);
    await page.mouse.move(2, 2);
    await page.locator('#tooltip').waitFor({ state: 'hidden' });
    fs.mkdirSync(artifacts, { recursive: true });
    const file = path.join(artifacts, 'ui-map.png');
    await page.screenshot({ path: file });
    console.log(`# screenshot: ${file}`);
    if (process.env.CARETTA_UI_DOCS_SCREENSHOT) {
      fs.copyFileSync(file, path.resolve(process.env.CARETTA_UI_DOCS_SCREENSHOT));
      console.log(`# screenshot copied to ${process.env.CARETTA_UI_DOCS_SCREENSHOT}`);
    }
  });

  await check('only same-origin requests (no CDN, no outside network)', async () => {
    const foreign = requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:'));
    assertEq(foreign, [], 'requests to other origins');
    assert(requests.some((u) => u.startsWith(origin + '/app.js')), 'app.js not loaded from the origin');
  });

  await check('no console errors', async () => {
    assertEq(consoleErrors, [], 'console errors');
  });

  // Last: it opens another origin. Names from a hostile API server or PTR answer
  // (markup, script, quotes, control characters, 10,000 characters) stay text.
  if (fixture) {
    await check('hostile names are shown as inert text', async () => {
      const hostile = await startFixtureServer({ document: hostileGraph });
      const hostilePage = await context.newPage();
      const errors = [];
      let dialogs = 0;
      hostilePage.on('pageerror', (err) => errors.push(err.message));
      hostilePage.on('dialog', (d) => { dialogs++; d.dismiss().catch(() => {}); });
      try {
        await hostilePage.goto(hostile.url, { waitUntil: 'load' });
        await hostilePage.waitForFunction(() => Number(document.body.dataset.updates || 0) >= 1);
        // Hover and click every entity: handlers that build HTML would fire here.
        const ids = await hostilePage.evaluate(() => window.caretta.cy.nodes().map((n) => n.id()));
        for (const id of ids) {
          await hostilePage.evaluate((nid) => {
            const n = window.caretta.cy.getElementById(nid);
            n.emit('mouseover');
            n.emit('tap');
          }, id);
        }
        await hostilePage.waitForTimeout(300);
        const state = await hostilePage.evaluate((mark) => ({
          pwned: window[mark] !== undefined,
          injected: document.querySelectorAll('img[src="x"], svg[onload], [onmouseover], u, s').length,
          table: document.querySelector('#links-table tbody').textContent,
        }), HOSTILE_MARK);
        assert(!state.pwned, 'a hostile name was executed as script');
        assertEq(state.injected, 0, 'elements injected from hostile names');
        assertEq(dialogs, 0, 'dialogs opened');
        assertEq(errors, [], 'page errors');
        for (const name of HOSTILE_NAMES.slice(0, 4)) {
          assert(state.table.includes(name), `links table does not show ${JSON.stringify(name)} as text`);
        }
      } finally {
        await hostilePage.close().catch(() => {});
        await hostile.close();
      }
    });
  }
  exitCode = results.every((r) => r.ok) ? 0 : 1;
} catch (err) {
  console.log(`FAIL - harness: ${err && err.stack ? err.stack : err}`);
  results.push({ name: 'harness', ok: false });
  exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  if (fixture) await fixture.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
const passed = results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${results.length - passed} failed`);
process.exit(exitCode);
