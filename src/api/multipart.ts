/**
 * Streaming `multipart/form-data` reading for uploads (busboy). Fields arrive in any order:
 * `imagekit` v6 sends `file` first, so the file part is handed to `onFile` (which streams it to
 * staging) while the remaining fields are still to come. Nothing is buffered whole except the
 * small text fields, which are bounded in count and total size.
 */
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import busboy from 'busboy';
import { BadRequestError } from '../errors.js';
import { InvalidFieldError, UploadTooLargeError } from './errors.js';

/** Bounds on the text fields of one form. */
const MAX_FIELDS = 40;
/** One field at most (a base64 `file` of 12 MiB is 16 MiB of text), and all fields together. */
const MAX_FIELD_BYTES = 17 * 1024 * 1024;
const MAX_TOTAL_FIELD_BYTES = 17 * 1024 * 1024 + 256 * 1024;
/** A body silent this long is abandoned (a stalled or slow-dripping client holds no slot for ever). */
export const BODY_IDLE_TIMEOUT_MS = 60_000;

/** What was read: the text fields (each once) and whether a binary `file` part came. */
export interface UploadForm {
  fields: Map<string, string>;
  hasBinaryFile: boolean;
}

/** A pass-through that fails with 413 once more than `max` bytes went through. */
export function byteLimit(max: number, message: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > max) callback(new UploadTooLargeError(message));
      else callback(null, chunk);
    },
  });
}

/**
 * Reads a form from `body`. The binary `file` part is passed to `onFile` at once (its stream must
 * be consumed); the promise resolves once the whole form is read, and rejects with a 400 for a
 * malformed form, a repeated field, a second file or too many or too large fields. Destroying
 * `body` (a client that left) or aborting `signal` rejects it and errors the file stream.
 */
export function readUploadForm(
  body: Readable,
  contentType: string | undefined,
  onFile: (stream: Readable) => void,
  signal?: AbortSignal,
): Promise<UploadForm> {
  return new Promise<UploadForm>((resolve, reject) => {
    if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) {
      body.resume();
      reject(new BadRequestError('Expected a multipart/form-data body', 'file', 'invalid_field'));
      return;
    }
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType },
        limits: {
          fieldNameSize: 100,
          fieldSize: MAX_FIELD_BYTES,
          fields: MAX_FIELDS,
          files: 1,
          parts: MAX_FIELDS + 1,
          headerPairs: 20,
        },
      });
    } catch {
      body.resume();
      reject(new BadRequestError('Malformed multipart/form-data header', 'file', 'invalid_field'));
      return;
    }
    const fields = new Map<string, string>();
    let hasBinaryFile = false;
    let total = 0;
    let settled = false;
    let idle: NodeJS.Timeout | undefined;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      body.unpipe(parser);
      parser.destroy(error);
      reject(error);
    };
    parser.on('file', (name, stream) => {
      if (name !== 'file') {
        stream.resume();
        fail(new InvalidFieldError(name, 'Only the field named file may carry a file'));
        return;
      }
      if (hasBinaryFile || fields.has('file')) {
        stream.resume();
        fail(new InvalidFieldError('file', 'Send the file once'));
        return;
      }
      hasBinaryFile = true;
      onFile(stream);
    });
    parser.on('field', (name, value, info) => {
      total += value.length;
      if (info.nameTruncated) fail(new InvalidFieldError(name.slice(0, 40), 'Field name too long'));
      else if (info.valueTruncated || total > MAX_TOTAL_FIELD_BYTES) {
        fail(
          name === 'file'
            ? new UploadTooLargeError('A base64 file may be at most 12 MiB; send larger files as binary')
            : new InvalidFieldError(name, 'Field too large'),
        );
      } else if (fields.has(name) || (name === 'file' && hasBinaryFile)) {
        fail(new InvalidFieldError(name, 'Field sent more than once'));
      } else fields.set(name, value);
    });
    parser.on('filesLimit', () => fail(new InvalidFieldError('file', 'Send the file once')));
    parser.on('fieldsLimit', () => fail(new BadRequestError(`At most ${MAX_FIELDS} fields are allowed`)));
    parser.on('partsLimit', () => fail(new BadRequestError(`At most ${MAX_FIELDS + 1} parts are allowed`)));
    parser.on('error', (error: Error) =>
      fail(
        error instanceof BadRequestError
          ? error
          : new BadRequestError(`Malformed multipart body: ${error.message}`),
      ),
    );
    parser.on('close', () => {
      if (settled) return;
      settled = true;
      resolve({ fields, hasBinaryFile });
    });
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => fail(new BadRequestError(`The upload body was silent for ${BODY_IDLE_TIMEOUT_MS / 1000} s`)),
        BODY_IDLE_TIMEOUT_MS,
      );
    };
    arm();
    body.on('data', arm);
    parser.once('close', () => clearTimeout(idle));
    const gone = () => {
      if (!parser.writableFinished)
        fail(new BadRequestError('The client closed the connection before the upload ended'));
    };
    body.once('aborted', gone);
    body.once('error', gone);
    body.once('close', () => {
      if (!body.readableEnded) gone();
    });
    // The caller gives up (its staging failed, say, over the size limit): stop reading at once.
    signal?.addEventListener('abort', () => fail(signal.reason as Error), { once: true });
    // A client that left while its upload waited in the queue closed the body before these
    // listeners existed: without this its slot would wait out the idle timeout.
    if (body.destroyed && !body.readableEnded) {
      gone();
      return;
    }
    body.pipe(parser);
  });
}
