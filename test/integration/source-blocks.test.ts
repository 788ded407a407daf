import { expect, test } from 'vitest';
import { useProxy } from '../support/proxy.js';
import { fetchBytes } from './helpers.js';

/**
 * ffmpeg jobs on one source read the same windows again and again (header, index, the bytes
 * around a keyframe). The source endpoint remembers small windows per source version, so a
 * second job over the same bytes does not go back to the origin.
 */
const proxy = useProxy();

test('a second job over the same bytes reads nothing more from the origin', async () => {
  const first = await fetchBytes(`${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=so-6,w-100`);
  expect(first.status).toBe(200);
  const afterFirst = proxy.proxy.origin.stats();
  const second = await fetchBytes(`${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=so-6,w-140`);
  expect(second.status).toBe(200);
  expect(second.headers.get('x-cache')).toBe('MISS');
  const afterSecond = proxy.proxy.origin.stats();
  expect(afterFirst.bytes).toBeGreaterThan(0);
  expect(afterSecond.bytes - afterFirst.bytes).toBe(0);
  // A different part of the file is still read from the origin.
  await fetchBytes(`${proxy.url}/sample.mp4/ik-thumbnail.jpg?tr=so-11,w-100`);
  expect(proxy.proxy.origin.stats().bytes).toBeGreaterThan(afterSecond.bytes);
});
