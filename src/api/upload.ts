/**
 * The upload use case: authenticate -> read the form (staging the file as it streams) -> check
 * the fields -> stage a URL or base64 file -> inspect (sniff, probe, limits) -> commit under its
 * path -> record -> answer. Whatever fails, the staged bytes are discarded before the answer, so
 * a refused upload stores nothing.
 */
import { Readable } from 'node:stream';
import type { ApiConfig } from '../config/api.js';
import { ConflictError, OverloadedError, ProxyError } from '../errors.js';
import type { OriginWriter, StagedObject } from '../origin/types.js';
import type { JobLimiter } from '../render/limiter.js';
import type { Logger } from '../render/logger.js';
import type { NamedTransformations } from '../url/types.js';
import { fileObject, type UrlBase } from './answer.js';
import { checkBasic, checkToken, tokenRecordKey } from './auth.js';
import { ApiAuthError, InvalidFieldError, UploadsBusyError } from './errors.js';
import { parseUploadFields, type TokenFields, type UploadRequest } from './fields.js';
import { type InspectDeps, type Inspection, inspectUpload } from './inspect.js';
import { byteLimit, readUploadForm } from './multipart.js';
import { joinPath, uniqueName } from './names.js';
import { type PostStep, planPost } from './post.js';
import { applyPre, type PreDeps, preRequest } from './pre.js';
import { type FileRecord, type FileRecords, newRecord } from './records.js';
import type { GuardedFetcher } from './url-source.js';

/** What the upload use case is built from. */
export interface UploadDeps {
  writer: OriginWriter;
  files: FileRecords;
  inspect: InspectDeps;
  /** Bounds uploads in progress (`UPLOAD_CONCURRENCY`, `UPLOAD_QUEUE`). */
  limiter: JobLimiter;
  config: ApiConfig;
  /** Whether `SIGNING_KEY` is set: private files are delivered only on signed URLs. */
  canSign: boolean;
  fetcher: GuardedFetcher;
  log: Logger;
  /** What `transformation.pre` runs with; absent: a pre transformation is a 400. */
  pre?: PreDeps;
  /** Named transformations (`n-NAME` in post transformation values). */
  named: NamedTransformations;
  /** Called after a file is stored (post transformations, webhooks, purging what an overwrite replaced). */
  stored?: (stored: StoredUpload) => void;
  now?: () => number;
}

/** What `UploadDeps.stored` is told. */
export interface StoredUpload {
  record: FileRecord;
  request: UploadRequest;
  replaced: FileRecord | undefined;
  /** The post transformations to make, already checked. */
  post: PostStep[];
  base: UrlBase;
}

/** One upload request as the route hands it over. */
export interface UploadInput {
  authorization: string | undefined;
  contentType: string | undefined;
  body: Readable;
  base: UrlBase;
  /** Filled in with where the time went (ms): `receive`, `probe`, `pre`, `store`, for `Server-Timing`. */
  timings?: Record<string, number>;
}

function tokenFieldsOf(fields: ReadonlyMap<string, string>): TokenFields | undefined {
  const names = ['publicKey', 'token', 'expire', 'signature'] as const;
  if (!names.some((name) => fields.has(name))) return undefined;
  const missing = names.find((name) => !fields.get(name));
  if (missing)
    throw new ApiAuthError(
      `Client-side uploads need publicKey, token, expire and signature (missing ${missing})`,
    );
  return {
    publicKey: fields.get('publicKey')!,
    token: fields.get('token')!,
    expire: fields.get('expire')!,
    signature: fields.get('signature')!,
  };
}

/** Uploads into a writable origin (see the module comment for the flow). */
export class UploadService {
  readonly #deps: UploadDeps;

  constructor(deps: UploadDeps) {
    this.#deps = deps;
  }

  #now(): number {
    return this.#deps.now?.() ?? Date.now();
  }

  /** Handles one upload; resolves with ImageKit's upload answer. */
  async upload(input: UploadInput): Promise<Record<string, unknown>> {
    const { config } = this.#deps;
    // Server-side credentials are checked before a byte of the body is read; without a public key
    // no token can be valid, so a request without Basic auth is refused before its body too.
    if (input.authorization !== undefined) checkBasic(input.authorization, config.privateKeys);
    else if (!config.publicKey) {
      throw new ApiAuthError('Missing credentials: send the private API key as the Basic-auth user name');
    }
    try {
      return await this.#deps.limiter.run(() => this.#run(input, input.authorization !== undefined));
    } catch (error) {
      if (error instanceof OverloadedError) {
        input.body.resume();
        throw new UploadsBusyError(Number(error.headers['Retry-After'] ?? 1));
      }
      throw error;
    }
  }

  async #run(input: UploadInput, basicChecked: boolean): Promise<Record<string, unknown>> {
    const { writer, config } = this.#deps;
    const giveUp = new AbortController();
    let staging: Promise<StagedObject> | undefined;
    let staged: StagedObject | undefined;
    let mark = performance.now();
    const lap = (name: string) => {
      const now = performance.now();
      if (input.timings) input.timings[name] = (input.timings[name] ?? 0) + (now - mark);
      mark = now;
    };
    try {
      const form = await readUploadForm(
        input.body,
        input.contentType,
        (stream) => {
          const limited = byteLimit(
            config.uploadMaxBytes,
            `The upload is over ${config.uploadMaxBytes} bytes (UPLOAD_MAX_BYTES)`,
          );
          stream.on('error', (error) => limited.destroy(error));
          staging = writer.stage(stream.pipe(limited), { signal: giveUp.signal });
          // A failed staging (too large, storage failure) stops the form at once.
          staging.catch((error: unknown) => giveUp.abort(error));
        },
        giveUp.signal,
      ).catch(async (error: unknown) => {
        // Report what failed first: the staging's own error (413) rather than "form aborted".
        if (staging) await staging.catch((stagingError: unknown) => Promise.reject(stagingError));
        throw error;
      });
      staged = staging ? await staging : undefined;
      if (!basicChecked) await this.#checkClientToken(form.fields);
      const request = parseUploadFields(form.fields, form.hasBinaryFile);
      if (request.isPrivateFile && !this.#deps.canSign) {
        throw new InvalidFieldError(
          'isPrivateFile',
          'Private files need signed URLs: set SIGNING_KEY on the server',
        );
      }
      const pre = request.pre ? preRequest(request.pre, this.#deps.named) : undefined;
      if (pre && !this.#deps.pre) {
        throw new InvalidFieldError(
          'transformation.pre',
          'Pre-transformations are not available on this server',
        );
      }
      if (!staged) staged = await this.#stageText(request);
      lap('receive');
      let inspection = await inspectUpload(this.#deps.inspect, staged.id);
      lap('probe');
      if (pre && this.#deps.pre) {
        if (inspection.kind !== 'video') {
          throw new InvalidFieldError('transformation.pre', 'Pre-transformations apply to videos only');
        }
        const original = staged;
        staged = await applyPre(this.#deps.pre, original, pre);
        await writer.discard(original);
        // What is stored is checked like any upload: the transformed file is sniffed and probed too.
        inspection = await inspectUpload(this.#deps.inspect, staged.id);
        lap('pre');
      }
      const answer = await this.#store(request, staged, inspection, input.base);
      lap('store');
      // Committed: the staging copy is gone, nothing to discard.
      staged = undefined;
      staging = undefined;
      return answer;
    } catch (error) {
      giveUp.abort(error);
      throw error;
    } finally {
      // Settle the staging before answering, so a refused upload has left nothing when we do.
      if (staging) await staging.catch(() => undefined);
      const leftover = staged ?? (staging ? await staging.catch(() => undefined) : undefined);
      if (leftover) await writer.discard(leftover).catch(() => undefined);
    }
  }

  async #checkClientToken(fields: ReadonlyMap<string, string>): Promise<void> {
    const { config, writer } = this.#deps;
    const token = tokenFieldsOf(fields);
    if (!token) {
      throw new ApiAuthError(
        'Missing credentials: use Basic auth with the private API key, or publicKey + token + expire + signature',
      );
    }
    const expire = checkToken(
      token,
      { privateKeys: config.privateKeys, publicKey: config.publicKey },
      Math.floor(this.#now() / 1000),
    );
    const fresh = await writer.records.put(tokenRecordKey(token.token, expire), Buffer.from(String(expire)), {
      ifAbsent: true,
    });
    if (!fresh)
      throw new ApiAuthError('This upload token was already used; sign a new token for each upload');
  }

  async #stageText(request: UploadRequest): Promise<StagedObject> {
    const { writer, config, fetcher } = this.#deps;
    const text = request.fileText!;
    if (text.kind === 'base64') {
      if (text.bytes.length > config.uploadMaxBytes) {
        throw new InvalidFieldError(
          'file',
          `The file is over ${config.uploadMaxBytes} bytes (UPLOAD_MAX_BYTES)`,
        );
      }
      return writer.stage(Readable.from([text.bytes]));
    }
    const signal = AbortSignal.timeout(config.urlTimeoutMs);
    const body = await fetcher.open(text.url, config.uploadMaxBytes, signal);
    try {
      return await writer.stage(body, { signal });
    } catch (error) {
      if (error instanceof ProxyError && error.status < 500) throw error;
      if (signal.aborted)
        throw new InvalidFieldError('file', 'The file URL did not deliver the file in time');
      throw error;
    }
  }

  async #store(
    request: UploadRequest,
    staged: StagedObject,
    inspection: Inspection,
    base: UrlBase,
  ): Promise<Record<string, unknown>> {
    const { writer, files } = this.#deps;
    let path: string;
    let post: PostStep[];
    let previous: FileRecord | undefined;
    let written: Awaited<ReturnType<OriginWriter['commit']>>;
    for (let attempt = 0; ; attempt++) {
      const name = request.useUniqueFileName ? uniqueName(request.fileName) : request.fileName;
      path = joinPath(request.folder, name);
      // Post transformations are checked like viewers' URLs before anything becomes visible.
      post = planPost(path, request.post, this.#deps.named);
      previous = request.useUniqueFileName ? undefined : await files.get(path);
      try {
        // A unique name never replaces a file: should the suffix repeat one, another is drawn.
        written = await writer.commit(staged, path, {
          ifAbsent: request.useUniqueFileName || !request.overwriteFile,
        });
        break;
      } catch (error) {
        if (!(error instanceof ConflictError) || !request.useUniqueFileName || attempt >= 3) throw error;
      }
    }
    const record = newRecord({
      path,
      size: written.size,
      version: written.version,
      inspection,
      tags: request.tags,
      customMetadata: request.customMetadata,
      description: request.description,
      isPrivateFile: request.isPrivateFile,
      previous,
      now: new Date(this.#now()),
    });
    try {
      await files.put(record);
    } catch (error) {
      // A new file without its record would be a file nobody asked to keep: it goes too.
      if (!previous) await writer.delete(path).catch(() => undefined);
      throw error;
    }
    this.#deps.log.info({ path, size: record.size, kind: record.kind }, 'upload stored');
    this.#deps.stored?.({ record, request, replaced: previous, post, base });
    const answer = fileObject(record, base);
    if (request.responseFields.includes('metadata') && inspection.info) answer.metadata = inspection.info;
    return answer;
  }
}
