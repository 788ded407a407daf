/**
 * The reference for cached-thumbnail throughput: a bare Hono app on @hono/node-server that
 * answers every GET with the same bytes from memory. Run as its own process (like the proxy) by
 * bench/run.ts: `node --import tsx bench/hono-ref.ts <file> <content-type>`; it prints
 * `listening <port>` once it accepts connections.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const [file, contentType = 'application/octet-stream'] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: hono-ref.ts <file> [content-type]\n');
  process.exit(2);
}
const body = readFileSync(file);
const app = new Hono();
app.get('*', (c) => c.body(body, 200, { 'Content-Type': contentType }));
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
  process.stdout.write(`listening ${info.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
