import { defineConfig } from 'vitest/config';

/**
 * Tests that hold the server to a design §5 time bar (answers within 1 s, `/healthz` within
 * 250 ms, first byte bounds) run alone after the rest: on a 2-core machine an ffmpeg-heavy file
 * beside them measures the neighbour, not the product.
 */
const TIMED = [
  'test/hardening/hostile-outputs.test.ts',
  'test/hardening/backpressure.test.ts',
  'test/video/first-byte.test.ts',
  'test/cdn/first-view.test.ts',
];

const shared = {
  globalSetup: ['test/global-setup.ts'],
  testTimeout: 60_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'suite',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/node_modules/**', ...TIMED],
          // ffmpeg-heavy suites fight for 2 cores; keep parallelism modest.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'timed',
          include: TIMED,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
