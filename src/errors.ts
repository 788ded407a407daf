/** What every `ProxyError` may carry besides its status, code and public message. */
export interface ProxyErrorOptions {
  /** The underlying failure, kept for the log. */
  cause?: unknown;
  /**
   * What only the operator's log may see: bucket, endpoint, path, variable to check. Public
   * messages name none of these (design §6), so whatever would help an operator goes here.
   */
  detail?: string;
  headers?: Record<string, string>;
  internal?: boolean;
}

/**
 * Every failure the proxy reports is a `ProxyError`: a stable machine `code`, the HTTP `status`
 * it maps to, and a message that is safe to show anyone (no bucket, endpoint, path or credential
 * hint: those go in `detail` and `cause`, which only the log sees). Only `http/` turns these
 * into responses.
 */
export class ProxyError extends Error {
  /** Stable identifier, e.g. `bad_transformation`; part of the JSON error body. */
  readonly code: string;
  /** HTTP status the error maps to. */
  readonly status: number;
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the failure is ours (logged at error level) rather than the client's. */
  readonly internal: boolean;
  /** Log-only explanation for the operator; never part of a response. */
  readonly detail: string | undefined;

  constructor(status: number, code: string, message: string, options: ProxyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.headers = options.headers ?? {};
    this.internal = options.internal ?? status >= 500;
    this.detail = options.detail;
  }
}

/** 400: the `tr` string or another part of the URL is malformed or names an impossible combination. */
export class BadRequestError extends ProxyError {
  /** The parameter at fault, when there is one. */
  readonly param: string | undefined;
  constructor(message: string, param?: string, code = 'bad_request') {
    super(400, code, message);
    this.param = param;
  }
}

/** 400 for one transformation parameter: "Expected <expected> for <param> but received <actual>". */
export class InvalidParameterError extends BadRequestError {
  constructor(param: string, expected: string, actual: string) {
    super(
      `Expected ${expected} for parameter '${param}' but received '${actual}'`,
      param,
      'invalid_parameter',
    );
  }
}

/** 401: signature missing, wrong or expired. */
export class UnauthorizedError extends ProxyError {
  constructor(message: string) {
    super(401, 'unauthorized', message);
  }
}

/** 404: the source does not exist in the origin (or the route is unknown). */
export class NotFoundError extends ProxyError {
  constructor(message: string, options: Pick<ProxyErrorOptions, 'cause' | 'detail'> = {}) {
    super(404, 'not_found', message, options);
  }
}

/** 405: the method is not possible here (e.g. writing to a read-only origin). */
export class MethodNotAllowedError extends ProxyError {
  constructor(message: string) {
    super(405, 'method_not_allowed', message);
  }
}

/** 409: the write would replace something the request asked to keep (e.g. `overwriteFile=false`). */
export class ConflictError extends ProxyError {
  constructor(message: string, code = 'conflict') {
    super(409, code, message);
  }
}

/** 413: the source is larger than a configured limit. */
export class PayloadTooLargeError extends ProxyError {
  constructor(message: string) {
    super(413, 'source_too_large', message);
  }
}

/** 415: the source is not a video (or audio) file the proxy accepts. */
export class UnsupportedMediaError extends ProxyError {
  constructor(message: string, options: Pick<ProxyErrorOptions, 'cause' | 'detail'> = {}) {
    super(415, 'unsupported_media', message, { ...options, internal: false });
  }
}

/** 422: the source is a valid file but exceeds a limit or cannot satisfy the request (e.g. `so` past the end). */
export class UnprocessableError extends ProxyError {
  constructor(message: string, code = 'unprocessable') {
    super(422, code, message);
  }
}

/** 416: a Range header that cannot be satisfied. */
export class RangeNotSatisfiableError extends ProxyError {
  constructor(size: number) {
    super(416, 'range_not_satisfiable', `Requested range is outside the ${size} bytes of this resource`, {
      headers: { 'Content-Range': `bytes */${size}` },
    });
  }
}

/** 502: the origin failed (5xx, reset, truncated body, refused credentials, missing bucket). */
export class OriginError extends ProxyError {
  constructor(message: string, options: Pick<ProxyErrorOptions, 'cause' | 'detail'> = {}) {
    super(502, 'origin_error', message, options);
  }
}

/** 504: the origin did not answer in time. */
export class OriginTimeoutError extends ProxyError {
  constructor(message: string, options: Pick<ProxyErrorOptions, 'cause' | 'detail'> = {}) {
    super(504, 'origin_timeout', message, options);
  }
}

/** 503: too many jobs queued; the client should retry later. */
export class OverloadedError extends ProxyError {
  constructor(retryAfterSeconds: number) {
    super(503, 'overloaded', 'Too many transformations in progress; retry shortly', {
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

/** 500 for a failed encode; the ffmpeg stderr tail is kept for the log, never for the client. */
export class RenderError extends ProxyError {
  readonly stderrTail: string;
  constructor(message: string, stderrTail = '', options: Pick<ProxyErrorOptions, 'cause' | 'detail'> = {}) {
    super(500, 'render_failed', message, options);
    this.stderrTail = stderrTail;
  }
}

/** 504 for a job that ran past `JOB_TIMEOUT`. */
export class JobTimeoutError extends ProxyError {
  constructor(seconds: number) {
    super(504, 'job_timeout', `Transformation did not finish within ${seconds} s`);
  }
}

/** Configuration problems found at start-up; lists every bad variable at once. */
export class ConfigError extends ProxyError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(500, 'bad_config', `Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** Wraps anything that is not a ProxyError so callers always see the base class. */
export function toProxyError(error: unknown): ProxyError {
  if (error instanceof ProxyError) return error;
  return new ProxyError(500, 'internal_error', 'Internal error', { cause: error, internal: true });
}
