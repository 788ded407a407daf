import { afterAll, beforeAll, expect, test } from 'vitest';
import { ensureLargeFixture, LARGE_FIXTURE } from '../support/fixtures.js';
import { startProxy, type TestProxy } from '../support/proxy.js';

// The design bar: a new 360p transcode of a 60 s 1080p source starts delivering within ~1.5 s
// while the whole encode takes ~10 s on 2 cores. Absolute times depend on the machine, so the
// test asserts the shape (bytes stream early and keep coming) and prints the numbers.
let proxy: TestProxy;

beforeAll(async () => {
  await ensureLargeFixture();
  proxy = await startProxy();
}, 180_000);

afterAll(async () => {
  await proxy?.close();
});

test('a new 360p transcode of the 60 s 1080p source streams its first bytes long before it ends', async () => {
  const url = `${proxy.url}/generated/${LARGE_FIXTURE.fileName}?tr=h-360`;
  const started = performance.now();
  const response = await fetch(url);
  const headersAt = performance.now() - started;
  expect(response.status).toBe(200);
  expect(response.headers.get('x-cache')).toBe('MISS-STREAMING');

  const reader = response.body!.getReader();
  let firstByteAt: number | undefined;
  let bytes = 0;
  const arrivals: Array<{ at: number; bytes: number }> = [];
  // Bounded by the body: the encode ends, the stream ends.
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const at = performance.now() - started;
    firstByteAt ??= at;
    bytes += value.length;
    arrivals.push({ at, bytes });
  }
  const totalAt = performance.now() - started;
  const bytesByHalfTime = arrivals.filter((arrival) => arrival.at <= totalAt / 2).at(-1)?.bytes ?? 0;
  console.log(
    `360p of ${LARGE_FIXTURE.fileName}: headers ${headersAt.toFixed(0)} ms, first byte ${firstByteAt?.toFixed(0)} ms, ` +
      `complete ${totalAt.toFixed(0)} ms, ${bytes} bytes, ${((100 * bytesByHalfTime) / bytes).toFixed(0)}% delivered by half time`,
  );
  expect(firstByteAt).toBeDefined();
  expect(firstByteAt!).toBeLessThan(totalAt / 4);
  // Streaming, not a burst at the end: a good share arrives during the first half.
  expect(bytesByHalfTime).toBeGreaterThan(bytes * 0.2);
}, 120_000);
