import { createHash } from 'node:crypto';

/** Puts one crash-writer run attempts before it would stop on its own. */
export const CRASH_KEYS_PER_ROUND = 60;

/** The key of the `index`th put of `round`. */
export function crashKey(round: number, index: number): string {
  return `crash/${round}/${index}`;
}

/** A size from 512 KiB to about 3.5 MiB, derived from the key so the checker can recompute it. */
export function crashSize(key: string): number {
  const seed = createHash('sha256').update(key).digest().readUInt32BE(0);
  return 512 * 1024 + (seed % (3 * 1024 * 1024));
}
