import { UsageError } from './args.js';

/** Most origin entries one `--prefix` run reads. */
const LISTING_LIMIT = 10_000;

/**
 * The media sources (video and audio, by extension) under `prefix` in the origin configured by
 * the environment, exactly as the proxy would see it. Imported lazily: `warm <file>` needs no
 * origin, config or AWS SDK.
 *
 * @throws UsageError when the origin cannot list folders (an HTTP origin).
 */
export async function listOriginSources(prefix: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const [{ loadConfig }, { createOrigin }, { isMediaPath }] = await Promise.all([
    import('../config/index.js'),
    import('../origin/index.js'),
    import('../origin/content-type.js'),
  ]);
  const origin = createOrigin(loadConfig(env));
  if (!origin.list)
    throw new UsageError(`This origin (${origin.kind}) cannot list folders; give a file of URLs instead`);
  const listing = await origin.list(prefix, LISTING_LIMIT);
  return listing.map((entry) => entry.path).filter(isMediaPath);
}
