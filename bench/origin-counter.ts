import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the proxy sent to the origin, as seen on the wire. */
export interface OriginRequestRecord {
  method: string;
  path: string;
  range?: string;
  status: number;
  /** Response body bytes delivered to the proxy. */
  bytes: number;
}

/** Totals since the last reset. */
export interface OriginCounts {
  requests: number;
  bytes: number;
  records: OriginRequestRecord[];
}

/** A byte-counting forwarder in front of the S3 server, so origin reads are measured outside the product. */
export interface OriginCounter {
  /** `http://127.0.0.1:<port>`: give this to the proxy as S3_ENDPOINT. */
  url: string;
  reset(): void;
  counts(): OriginCounts;
  close(): Promise<void>;
}

/** Keeps at most this many records; totals stay exact beyond it. */
const MAX_RECORDS = 10_000;

/**
 * Starts a pass-through HTTP proxy on 127.0.0.1 that forwards every request to `target`
 * unchanged (so S3 signatures stay valid: the Host header is passed through) and counts the
 * response body bytes it relays back. A request aborted by the client counts the bytes that
 * were actually relayed before it closed.
 */
export async function startOriginCounter(target: string): Promise<OriginCounter> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let requests = 0;
  let bytes = 0;
  let records: OriginRequestRecord[] = [];
  const server = http.createServer((req, res) => {
    requests++;
    const record: OriginRequestRecord = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      range: typeof req.headers.range === 'string' ? req.headers.range : undefined,
      status: 0,
      bytes: 0,
    };
    if (records.length < MAX_RECORDS) records.push(record);
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        record.status = answer.statusCode ?? 0;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on('data', (chunk: Buffer) => {
          record.bytes += chunk.length;
          bytes += chunk.length;
        });
        answer.pipe(res);
      },
    );
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    reset() {
      requests = 0;
      bytes = 0;
      records = [];
    },
    counts() {
      return { requests, bytes, records: [...records] };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
