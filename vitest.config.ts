import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // ffmpeg-heavy suites fight for 2 cores; keep parallelism modest.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
