// Tiny HTTP server for the web map tests and for working on the UI by hand:
// serves ui/dist and a fixture /api/graph on 127.0.0.1.
//   node tests/ui/fixture_server.mjs [--port N] [--auto]
// --auto bumps the fixture version on every /api/graph request (live feel).
// Test hook: GET /__fixture/version?set=N switches the document served.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { graph } from './fixture_graph.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_DIST = path.resolve(here, '../../ui/dist');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

// `document(version, window)` is the /api/graph served (default: the fixture cluster).
export function startFixtureServer({ dist = DEFAULT_DIST, port = 0, auto = false, document = graph } = {}) {
  let version = 0;
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://fixture');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (url.pathname === '/__fixture/version') {
      if (url.searchParams.has('set')) version = Number(url.searchParams.get('set')) || 0;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version }));
      return;
    }
    if (url.pathname === '/api/graph') {
      const win = Number(url.searchParams.get('window')) || 300;
      const body = JSON.stringify(document(version, win));
      if (auto) version++;
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    const file = path.resolve(dist, rel);
    if (!file.startsWith(dist + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: actual } = server.address();
      resolve({
        url: `http://127.0.0.1:${actual}/`,
        requests,
        setVersion(v) { version = v; },
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const portArg = args.indexOf('--port');
  const port = portArg >= 0 ? Number(args[portArg + 1]) : 8089;
  const srv = await startFixtureServer({ port, auto: args.includes('--auto') });
  console.log(`fixture server: ${srv.url} (Ctrl-C to stop)`);
}
