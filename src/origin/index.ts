import type { Config } from '../config/index.js';
import { FsOrigin } from './fs.js';
import { HttpOrigin } from './http.js';
import { S3Origin } from './s3.js';
import type { Origin } from './types.js';

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
      return new S3Origin({
        bucket: origin.bucket,
        prefix: origin.prefix,
        endpoint: config.s3.endpoint,
        forcePathStyle: config.s3.forcePathStyle,
        region: config.s3.region,
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
