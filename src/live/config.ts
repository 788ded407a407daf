import { parseStreamKeys } from './keys.js';
import { parseLiveSr } from './ladder.js';

/**
 * Live settings (design §3): parsed apart from the delivery settings so each problem names its
 * variable, and merged into `loadConfig`'s one report. Live is off unless `RTMP_PORT` is set.
 */

/** The validated live settings. */
export interface LiveConfig {
  /** `RTMP_PORT` (0: any free port, for tests). */
  rtmpPort: number;
  /** `LIVE_STREAM_KEYS`: key -> public stream name. */
  keys: Map<string, string>;
  /** `MAX_LIVE_STREAMS`. */
  maxStreams: number;
  /** `LIVE_SR`: ladder heights, ascending. */
  heights: number[];
  /** `LIVE_RESUME_GRACE_S`, ms. */
  graceMs: number;
  /** `LIVE_RECORD_PREFIX`: folder inside `ORIGIN`; '' = not recorded. */
  recordPrefix: string;
  /** `LIVE_SEGMENT_SECONDS`. */
  segmentSeconds: number;
  /** `RTMP_HANDSHAKE_TIMEOUT`, ms. */
  handshakeTimeoutMs: number;
}

/** Names and defaults, as the README lists them. */
export const LIVE_SETTINGS = {
  rtmpPort: { name: 'RTMP_PORT', fallback: '' },
  keys: { name: 'LIVE_STREAM_KEYS', fallback: '' },
  maxStreams: { name: 'MAX_LIVE_STREAMS', fallback: '1' },
  heights: { name: 'LIVE_SR', fallback: '240_360_720' },
  grace: { name: 'LIVE_RESUME_GRACE_S', fallback: '10' },
  recordPrefix: { name: 'LIVE_RECORD_PREFIX', fallback: 'recordings' },
  segmentSeconds: { name: 'LIVE_SEGMENT_SECONDS', fallback: '2' },
  handshakeTimeout: { name: 'RTMP_HANDSHAKE_TIMEOUT', fallback: '10' },
} as const;

/** What the live settings are checked against. */
export interface LiveConfigContext {
  /** Parses `30`, `90s`, `5m`... into seconds. */
  seconds(raw: string): number;
  /** A parser of whole numbers from `min` to `max` (the delivery settings' own). */
  integer(min: number, max: number): (raw: string) => number;
  /** `ORIGIN`'s kind: an `http` origin cannot store recordings. */
  originKind: string;
  /** Whether `SIGNING_KEY` is set (signed stream keys then work without listed ones). */
  hasSigningKey: boolean;
}

function parsePrefix(raw: string): string {
  const value = raw.trim().replace(/^\/+|\/+$/g, '');
  if (value === '') return '';
  if (
    value.split('/').some((part) => part === '' || part.startsWith('.') || !/^[A-Za-z0-9._~-]+$/.test(part))
  )
    throw new Error('expected a folder path such as v/recordings (letters, digits, . _ ~ -; no dot folders)');
  return value;
}

/**
 * Reads the live settings from `env`. `config` is undefined when `RTMP_PORT` is unset (live off);
 * every problem is returned for the caller's one report. Keys are never echoed in a problem.
 */
export function loadLiveConfig(
  env: Record<string, string | undefined>,
  context: LiveConfigContext,
): { config: LiveConfig | undefined; problems: string[] } {
  const problems: string[] = [];
  const read = <T>(
    setting: { name: string; fallback: string },
    parse: (raw: string) => T,
    echo = true,
  ): T | undefined => {
    const raw = env[setting.name] ?? setting.fallback;
    try {
      return parse(raw);
    } catch (error) {
      problems.push(`${setting.name}${echo ? `=${JSON.stringify(raw)}` : ''}: ${(error as Error).message}`);
      return undefined;
    }
  };
  const rawPort = (env[LIVE_SETTINGS.rtmpPort.name] ?? '').trim();
  const rtmpPort = rawPort === '' ? undefined : read(LIVE_SETTINGS.rtmpPort, context.integer(0, 65535));
  const keys = read(LIVE_SETTINGS.keys, parseStreamKeys, false);
  const maxStreams = read(LIVE_SETTINGS.maxStreams, context.integer(1, 64));
  const heights = read(LIVE_SETTINGS.heights, parseLiveSr);
  const grace = read(LIVE_SETTINGS.grace, (raw) => (raw.trim() === '0' ? 0 : context.seconds(raw)));
  const recordPrefix = read(LIVE_SETTINGS.recordPrefix, parsePrefix);
  const segmentSeconds = read(LIVE_SETTINGS.segmentSeconds, context.integer(1, 10));
  const handshake = read(LIVE_SETTINGS.handshakeTimeout, (raw) => {
    const value = context.seconds(raw);
    if (value > 30) throw new Error('expected at most 30 seconds');
    return value;
  });
  if (rawPort === '') return { config: undefined, problems };
  if (keys && keys.size === 0 && !context.hasSigningKey)
    problems.push(
      'RTMP_PORT is set but LIVE_STREAM_KEYS is empty and SIGNING_KEY is unset: nobody could publish',
    );
  if (recordPrefix && context.originKind === 'http')
    problems.push(
      'LIVE_RECORD_PREFIX: an http(s) ORIGIN cannot store recordings; set LIVE_RECORD_PREFIX= (empty) to not record',
    );
  if (
    problems.length > 0 ||
    rtmpPort === undefined ||
    !keys ||
    !maxStreams ||
    !heights ||
    grace === undefined ||
    recordPrefix === undefined ||
    !segmentSeconds ||
    !handshake
  )
    return { config: undefined, problems };
  return {
    config: {
      rtmpPort,
      keys,
      maxStreams,
      heights,
      graceMs: grace * 1000,
      recordPrefix,
      segmentSeconds,
      handshakeTimeoutMs: handshake * 1000,
    },
    problems,
  };
}
