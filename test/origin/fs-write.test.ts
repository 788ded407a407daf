import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FsOrigin } from '../../src/origin/fs.js';
import { RESERVED_FOLDER } from '../../src/origin/types.js';
import { writableOriginContract } from './write-contract.js';

writableOriginContract('fs', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'fs-write-'));
  const origin = new FsOrigin(root);
  return {
    origin,
    atomicCreate: true,
    async leftovers() {
      const out: string[] = [];
      for (const folder of ['staging', 'tmp']) {
        const entries = await readdir(path.join(root, RESERVED_FOLDER, folder)).catch(() => [] as string[]);
        out.push(...entries.map((entry) => `${folder}/${entry}`));
      }
      return out;
    },
    async teardown() {
      await rm(root, { recursive: true, force: true });
    },
  };
});
