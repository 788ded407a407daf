import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import path from 'node:path';

/** A loopback test server that counts the requests it saw. */
export interface TestServer {
  url: string;
  port: number;
  /** Requests received so far (connections, for the hanging server). */
  requests(): number;
  close(): Promise<void>;
}

/** Serves `handler` on 127.0.0.1 and counts requests. */
export async function startScriptedServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TestServer> {
  let count = 0;
  const server = createServer((req, res) => {
    count++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    requests: () => count,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Options for the static server's deliberate misbehaviour. */
export interface StaticOptions {
  /** Answer every request with 200 and the whole file, as some servers do. */
  ignoreRange?: boolean;
}

/**
 * A small static file server over `root` with `Range`, `HEAD`, an nginx-style ETag
 * (size and mtime) and `Last-Modified`, enough to stand in for a real origin.
 */
export function startStaticServer(root: string, options: StaticOptions = {}): Promise<TestServer> {
  return startScriptedServer((req, res) => {
    void serveFile(root, options, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
}

async function serveFile(root: string, options: StaticOptions, req: IncomingMessage, res: ServerResponse) {
  const rawPath = (req.url ?? '/').split('?')[0]!;
  const segments = rawPath.split('/').filter(Boolean).map(decodeURIComponent);
  if (segments.some((s) => s === '..' || s === '.')) {
    res.writeHead(400).end();
    return;
  }
  const file = path.join(root, ...segments);
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  const size = info.size;
  const headers: Record<string, string | number> = {
    etag: `"${size.toString(16)}-${Math.floor(info.mtimeMs * 1000).toString(16)}"`,
    'last-modified': info.mtime.toUTCString(),
    'content-type': 'application/octet-stream',
  };
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  let start = 0;
  let end = size - 1;
  let status = 200;
  if (range && !options.ignoreRange) {
    start = Number(range[1]);
    end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    status = 206;
    headers['content-range'] = `bytes ${start}-${end}/${size}`;
  }
  headers['accept-ranges'] = options.ignoreRange ? 'none' : 'bytes';
  headers['content-length'] = end - start + 1;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  createReadStream(file, { start, end }).pipe(res);
}

/** Accepts TCP connections and never answers; `requests` counts connections. */
export async function startHangingServer(): Promise<TestServer> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server = createNetServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    requests: () => count,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
