/**
 * The reference for cached-thumbnail throughput: a bare Hono app on @hono/node-server that
 * answers every GET with the same bytes from memory. Run as its own process (like the proxy) by
 * bench/run.ts: `node --import tsx bench/hono-ref.ts <file> <content-type> [headers.json]`; it
 * prints `listening <port>` once it accepts connections.
 *
 * Without `headers.json` it sends Hono's minimal answer (`Content-Type` only). With it, every
 * answer carries those headers plus a new `X-Request-Id`, as the proxy's cache hits do: the
 * comparison that isolates the proxy's own work from the cost of the headers themselves.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const [file, contentType = 'application/octet-stream', headersFile] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: hono-ref.ts <file> [content-type] [headers.json]\n');
  process.exit(2);
}
const body = readFileSync(file);
const app = new Hono();
if (headersFile) {
  const fixed = JSON.parse(readFileSync(headersFile, 'utf8')) as Record<string, string>;
  app.get('*', (c) => {
    const headers: Record<string, string> = Object.assign({}, fixed);
    headers['X-Request-Id'] = randomUUID();
    return c.body(body, 200, headers);
  });
} else {
  app.get('*', (c) => c.body(body, 200, { 'Content-Type': contentType }));
}
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
  process.stdout.write(`listening ${info.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
