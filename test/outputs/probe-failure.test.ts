import { describe, expect, test } from 'vitest';
import { useProxy } from '../support/proxy.js';

describe('a probe that cannot run is the server failing, not the file', () => {
  const proxy = useProxy({ FFPROBE_PATH: '/nonexistent/ffprobe' });

  test('a WebM (probed by ffprobe) answers 500, not 415, and the next request tries again', async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await fetch(`${proxy.url}/vp9-opus.webm/ik-metadata.json`);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(response.status).toBe(500);
      expect(body.error.code).toBe('render_failed');
      expect(body.error.message).not.toMatch(/nonexistent|FFPROBE/);
    }
  });

  test('an MP4 is still read in-process from its own index', async () => {
    const response = await fetch(`${proxy.url}/sample.mp4/ik-metadata.json`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { duration: number }).duration).toBeCloseTo(12, 0);
  });
});
