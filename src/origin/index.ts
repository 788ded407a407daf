import type { Config } from '../config/index.js';
import { ConfigError } from '../errors.js';
import { AzureOrigin } from './azure.js';
import { FsOrigin } from './fs.js';
import { HttpOrigin } from './http.js';
import { S3Origin } from './s3.js';
import type { Origin } from './types.js';

export { type AzureAuth, AzureOrigin, type AzureOriginOptions } from './azure.js';
export { CountingOrigin, type OriginStats } from './counting.js';
export { FsOrigin } from './fs.js';
export { HttpOrigin, type HttpOriginOptions } from './http.js';
export { S3Origin, type S3OriginOptions } from './s3.js';
export type { ByteRange, Origin, SourceListing, SourceStat } from './types.js';

/** The origin adapter `config.origin` names, with the timeout, S3 and SSRF settings applied. */
export function createOrigin(config: Config): Origin {
  const origin = config.origin;
  switch (origin.kind) {
    case 'fs':
      return new FsOrigin(origin.root);
    case 's3':
    case 'gs': {
      // gs:// is the same adapter speaking to GCS's S3-compatible XML API (see `Config.gcs`).
      const connection = origin.kind === 'gs' ? config.gcs : config.s3;
      return new S3Origin({
        bucket: origin.bucket,
        prefix: origin.prefix,
        endpoint: connection.endpoint,
        forcePathStyle: connection.forcePathStyle,
        region: connection.region,
        timeoutMs: config.originTimeoutMs,
      });
    }
    case 'azure':
      // loadConfig refuses an azure:// ORIGIN without credentials; a hand-built Config may not.
      if (!config.azure) throw new ConfigError(['ORIGIN=azure://... needs Azure credentials']);
      return new AzureOrigin({
        container: origin.container,
        prefix: origin.prefix,
        auth: config.azure,
        timeoutMs: config.originTimeoutMs,
      });
    case 'http':
      return new HttpOrigin({
        baseUrl: origin.baseUrl,
        timeoutMs: config.originTimeoutMs,
        allowlist: config.originAllowlist,
        allowPrivate: config.allowPrivateOrigins,
      });
  }
}
