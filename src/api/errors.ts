import { BadRequestError, ProxyError } from '../errors.js';

/** 400 for one upload or library field: the message names it, as ImageKit's API does. */
export class InvalidFieldError extends BadRequestError {
  constructor(field: string, message: string) {
    super(`${message} (field '${field}')`, field, 'invalid_field');
  }
}

/** 401 for every API credential failure (no key, wrong key, bad, expired or reused token). */
export class ApiAuthError extends ProxyError {
  constructor(message: string) {
    super(401, 'unauthorized', message, { headers: { 'WWW-Authenticate': 'Basic realm="api"' } });
  }
}

/** 503 when every upload slot and queue place is taken. */
export class UploadsBusyError extends ProxyError {
  constructor(retryAfterSeconds: number) {
    super(503, 'overloaded', 'Too many uploads in progress; retry shortly', {
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

/** 413 for an upload over `UPLOAD_MAX_BYTES` (or a base64 `file` over its own bound). */
export class UploadTooLargeError extends ProxyError {
  constructor(message: string) {
    super(413, 'upload_too_large', message);
  }
}
