/** What a header scan of the bytes buffered so far concluded. */
export type Scan =
  | { kind: 'more' }
  | { kind: 'done'; headerEnd: number; header: Buffer }
  | { kind: 'skip'; reason: string };
