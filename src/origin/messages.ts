/**
 * The public messages of origin failures, the same for every adapter. They name no bucket,
 * endpoint, path or credential (design §6); each adapter puts those in the error's `detail`,
 * which only the log sees.
 */
export const ORIGIN_MESSAGES = {
  unavailable: 'The origin is not available',
  refused: 'The origin refused access',
  failed: 'The origin failed',
  timeout: 'The origin did not answer in time',
  notFound: 'Source not found',
} as const;
