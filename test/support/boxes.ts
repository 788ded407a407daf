/**
 * ISO-BMFF boxes built by hand, for tests of the box reader, the moov parser, the CMAF split and
 * the duration stamp: what a real muxer writes, and what a hostile one might.
 */

/** A box with a 32-bit size: `type` then its payload parts. */
export function box(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}

/** A box with a 64-bit size (size field 1, then the largesize), which may declare any size. */
export function largeBox(type: string, body: Buffer, declared: bigint = BigInt(16 + body.length)): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(1);
  head.write(type, 4, 'latin1');
  head.writeBigUInt64BE(declared, 8);
  return Buffer.concat([head, body]);
}

/** A box with size 0: it runs to the end of whatever holds it. */
export function toEndBox(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}

/** A full box's payload: version and flags, then its fields. */
export function full(version: number, flags: number, ...fields: Buffer[]): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(((version & 0xff) << 24) | flags);
  return Buffer.concat([head, ...fields]);
}

/** Big-endian 32-bit fields. */
export function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  for (const [i, v] of values.entries()) b.writeUInt32BE(v, i * 4);
  return b;
}
