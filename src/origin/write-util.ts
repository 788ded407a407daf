import { Transform } from 'node:stream';

/** A pass-through stream that counts the bytes it carries (`bytes`). */
export function countBytes(): Transform & { bytes: number } {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      counter.bytes += chunk.length;
      callback(null, chunk);
    },
  }) as Transform & { bytes: number };
  counter.bytes = 0;
  return counter;
}
