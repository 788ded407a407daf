import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { OriginError } from '../../src/errors.js';
import { FsOrigin } from '../../src/origin/fs.js';
import { HttpOrigin } from '../../src/origin/http.js';
import { createOrigin } from '../../src/origin/index.js';
import { S3Origin } from '../../src/origin/s3.js';
import { startScriptedServer, type TestServer } from './servers.js';

describe('createOrigin', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startScriptedServer((_req, res) => {
      res.writeHead(206, { 'content-range': 'bytes 0-0/123', 'content-length': 1 }).end('x');
    });
  });
  afterAll(async () => {
    await server.close();
  });

  test('a folder ORIGIN makes an FsOrigin', () => {
    const origin = createOrigin(loadConfig({ ORIGIN: '/tmp' }));
    expect(origin).toBeInstanceOf(FsOrigin);
    expect(origin.kind).toBe('fs');
  });

  test('an s3:// ORIGIN makes an S3Origin', () => {
    const origin = createOrigin(
      loadConfig({ ORIGIN: 's3://bucket/some/prefix', S3_ENDPOINT: 'http://127.0.0.1:1' }),
    );
    expect(origin).toBeInstanceOf(S3Origin);
    expect(origin.kind).toBe('s3');
    (origin as S3Origin).destroy();
  });

  test('an http ORIGIN honours ALLOW_PRIVATE_ORIGINS', async () => {
    const allowed = createOrigin(loadConfig({ ORIGIN: server.url, ALLOW_PRIVATE_ORIGINS: 'true' }));
    const refused = createOrigin(loadConfig({ ORIGIN: server.url }));
    try {
      expect(allowed).toBeInstanceOf(HttpOrigin);
      expect((await allowed.stat('a.mp4')).size).toBe(123);
      const error = await refused.stat('a.mp4').catch((e) => e);
      expect(error).toBeInstanceOf(OriginError);
      expect(server.requests()).toBe(1);
    } finally {
      await (allowed as HttpOrigin).destroy();
      await (refused as HttpOrigin).destroy();
    }
  });

  test('ORIGIN_ALLOWLIST reaches the HTTP origin', async () => {
    const other = await startScriptedServer((_req, res) => {
      res.writeHead(206, { 'content-range': 'bytes 0-0/9', 'content-length': 1 }).end('x');
    });
    const redirecting = await startScriptedServer((_req, res) => {
      res.writeHead(302, { location: `${other.url}cdn/a.mp4` }).end();
    });
    const env = { ORIGIN: redirecting.url, ALLOW_PRIVATE_ORIGINS: 'true' };
    const without = createOrigin(loadConfig(env)) as HttpOrigin;
    const withList = createOrigin(loadConfig({ ...env, ORIGIN_ALLOWLIST: `${other.url}cdn/` })) as HttpOrigin;
    try {
      await expect(without.stat('a.mp4')).rejects.toThrow(/outside the allowed origins/);
      expect((await withList.stat('a.mp4')).size).toBe(9);
    } finally {
      await without.destroy();
      await withList.destroy();
      await other.close();
      await redirecting.close();
    }
  });
});
