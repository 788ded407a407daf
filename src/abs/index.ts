/**
 * Adaptive streaming (HLS and DASH over CMAF), all in this folder: the URL layout (`layout.ts`),
 * the plan from the probe (`plan.ts`), the playlists and manifest (`manifests.ts`) and the
 * manifest readers that must agree with them (`read.ts`), the segment argv (`argv.ts`), the
 * fMP4 split of an encoded segment (`fmp4.ts`) and the output kinds the registry serves (`outputs.ts`).
 */
export * from './layout.js';
export * from './manifests.js';
export * from './plan.js';
export * from './read.js';
