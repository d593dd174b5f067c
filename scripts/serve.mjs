// A static file server for the demo page, with the cross-origin isolation headers
// (COOP/COEP) that enable SharedArrayBuffer and WASM threads in browsers.
//   /            → web/            (the demo page)
//   /kexue/…     → the package's published files (bindings/js/, bindings/webgpu/, dist/, package.json), so the page
//                  imports 'kexue' through an import map exactly as a web app serving the package
//                  from node_modules would.
//   /corpus/devils-dictionary.txt → the transformer demo's corpus, read from Debian's dict-devil
//                  package (scripts/corpus.mjs); 404 when the package is missing.
//   /tests/…     → tests/browser/ (test pages, e.g. the WebGPU parity page) and tests/helpers/ (the
//                  modules they share with the Node tests, and the seeded random module the demo's
//                  worker uses too).
// Only loopback is served; requests outside those folders get 404.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { corpusAvailable, loadCorpus } from './corpus.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WEB_DIR = path.join(ROOT, 'web');
const PACKAGE_DIRS = ['bindings/js', 'bindings/webgpu', 'dist', 'examples'];
const TEST_DIRS = ['tests/browser', 'tests/helpers'];

const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.wgsl': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.npy': 'application/octet-stream',
  '.d.ts': 'text/plain; charset=utf-8',
};

function resolveRequest(urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0]);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  if (decoded.startsWith('/kexue/')) {
    const relative = path.posix.normalize(decoded.slice('/kexue/'.length));
    if (relative === 'package.json') return path.join(ROOT, 'package.json');
    if (!PACKAGE_DIRS.some((dir) => relative.startsWith(dir + '/'))) return null;
    return path.join(ROOT, relative);
  }
  if (decoded.startsWith('/tests/')) {
    const relative = path.posix.normalize(decoded.slice(1));
    return TEST_DIRS.some((dir) => relative.startsWith(dir + '/')) ? path.join(ROOT, relative) : null;
  }
  const relative = path.posix.normalize(decoded === '/' ? '/index.html' : decoded);
  const file = path.join(WEB_DIR, relative);
  return file.startsWith(WEB_DIR + path.sep) ? file : null;
}

export function startServer({ port = 8080, host = '127.0.0.1' } = {}) {
  let corpus = null;
  const server = createServer((request, response) => {
    if ((request.url || '').split('?')[0] === '/corpus/devils-dictionary.txt' && corpusAvailable() &&
      (request.method === 'GET' || request.method === 'HEAD')) {
      corpus ??= Buffer.from(loadCorpus(), 'latin1');
      response.writeHead(200, {
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cross-Origin-Resource-Policy': 'same-origin',
        'Cache-Control': 'no-cache',
        'Content-Type': 'text/plain; charset=us-ascii',
        'Content-Length': corpus.length,
      });
      response.end(request.method === 'HEAD' ? undefined : corpus);
      return;
    }
    const file = resolveRequest(request.url || '/');
    let stats = null;
    try {
      stats = file && statSync(file);
    } catch {
      stats = null;
    }
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-cache',
    };
    if (!stats || !stats.isFile() || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('not found\n');
      return;
    }
    const ext = file.endsWith('.d.ts') ? '.d.ts' : path.extname(file);
    response.writeHead(200, {
      ...headers,
      'Content-Type': MIME_TYPES[ext] || 'application/octet-stream',
      'Content-Length': stats.size,
    });
    if (request.method === 'HEAD') response.end();
    else createReadStream(file).pipe(response);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export function serverUrl(server) {
  const { address, port } = server.address();
  return `http://${address}:${port}/`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startServer({ port: Number(process.env.PORT || 8080) });
  process.stdout.write(`kexue demo: ${serverUrl(server)}\n`);
}
