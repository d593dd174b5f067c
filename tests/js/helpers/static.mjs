// A static file server for built apps (tests/js/bundlers.test.mjs): serves one folder on
// 127.0.0.1 (a secure context, so navigator.gpu exists), with or without the COOP/COEP headers
// that make a page cross-origin isolated (SharedArrayBuffer, WASM threads).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json',
  '.css': 'text/css',
};

export function serveFolder(root, { isolated }) {
  const server = createServer(async (request, response) => {
    const urlPath = decodeURIComponent(new URL(request.url, 'http://x').pathname);
    const file = path.join(root, path.posix.normalize(urlPath === '/' ? '/index.html' : urlPath));
    const headers = { 'Cache-Control': 'no-cache' };
    if (isolated) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    try {
      if (!file.startsWith(root + path.sep)) throw new Error('outside');
      const body = await readFile(file);
      response.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404, headers);
      response.end('not found');
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((done) => server.close(done)),
  })));
}
