import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { loadApiConfig } from '../config/api.js';
import { basicUser, checkBasic, checkToken, signUploadToken, tokenRecordKey } from './auth.js';
import { parseCustomMetadata, parseFileText, parseTransformation, parseUploadFields } from './fields.js';
import { readUploadForm } from './multipart.js';
import { fileIdOf, pathOfFileId, safeFileName, safeFolder, uniqueName } from './names.js';

const fields = (entries: Record<string, string>) => new Map(Object.entries(entries));

describe('upload fields', () => {
  test('defaults as ImageKit documents them', () => {
    const request = parseUploadFields(fields({ fileName: 'a.mp4' }), true);
    expect(request).toMatchObject({
      fileName: 'a.mp4',
      folder: '',
      useUniqueFileName: true,
      tags: null,
      customMetadata: {},
      isPrivateFile: false,
      overwriteFile: true,
      post: [],
    });
  });

  test('the SDKs’ serialisations are read back', () => {
    const request = parseUploadFields(
      fields({
        fileName: 'my clip.mp4',
        folder: '/a//b/',
        tags: 'x, y,,x',
        customMetadata: '{"brand":"acme","n":2,"list":[1,"a"]}',
        useUniqueFileName: 'false',
        responseFields: 'tags,customMetadata',
        transformation:
          '{"post":[{"type":"thumbnail","value":"w-300"},{"type":"abs","value":"sr-240_360","protocol":"hls"}]}',
        webhookUrl: 'https://hooks.example.com/ik',
      }),
      true,
    );
    expect(request.fileName).toBe('my_clip.mp4');
    expect(request.folder).toBe('a/b');
    expect(request.tags).toEqual(['x', 'y']);
    expect(request.customMetadata).toEqual({ brand: 'acme', n: 2, list: [1, 'a'] });
    expect(request.useUniqueFileName).toBe(false);
    expect(request.post).toEqual([
      { type: 'thumbnail', value: 'w-300' },
      { type: 'abs', value: 'sr-240_360', protocol: 'hls' },
    ]);
    expect(request.webhookUrl?.host).toBe('hooks.example.com');
  });

  test.each([
    [{ fileName: 'a.mp4', extensions: '[]' }, 'extensions'],
    [{ fileName: 'a.mp4', isPublished: 'false' }, 'isPublished'],
    [{ fileName: 'a.mp4', bogus: '1' }, 'bogus'],
    [{ fileName: 'a.mp4', useUniqueFileName: 'maybe' }, 'useUniqueFileName'],
    [{ fileName: 'a.mp4', customMetadata: '[1]' }, 'customMetadata'],
    [{ fileName: 'a.mp4', responseFields: 'embeddedMetadata' }, 'responseFields'],
    [{ fileName: 'a.mp4', webhookUrl: 'ftp://x' }, 'webhookUrl'],
    [
      { fileName: 'a.mp4', transformation: '{"post":[{"type":"abs","value":"sr-240","protocol":"rtmp"}]}' },
      'transformation.post[0].protocol',
    ],
    [{ fileName: 'a.mp4', transformation: '{"pre":"w-1;rm -rf"}' }, 'transformation.pre'],
    [{}, 'fileName'],
  ])('%j is refused naming %s', (entries, field) => {
    expect(() => parseUploadFields(fields(entries as Record<string, string>), true)).toThrow(`'${field}'`);
  });

  test('file as text: URL or base64 (a data: URI too), nothing else', () => {
    expect(parseFileText('https://example.com/v.mp4')).toMatchObject({ kind: 'url' });
    expect(parseFileText(Buffer.from('hello').toString('base64'))).toEqual({
      kind: 'base64',
      bytes: Buffer.from('hello'),
    });
    expect(parseFileText(`data:video/mp4;base64,${Buffer.from('hi').toString('base64')}`)).toEqual({
      kind: 'base64',
      bytes: Buffer.from('hi'),
    });
    expect(() => parseFileText('file:///etc/passwd')).toThrow("'file'");
    expect(() => parseFileText('gopher://x')).toThrow("'file'");
    expect(() => parseFileText('not base64!')).toThrow("'file'");
  });

  test('custom metadata is bounded and flat', () => {
    expect(() => parseCustomMetadata('{"a":{"b":1}}')).toThrow("'customMetadata'");
    expect(() => parseCustomMetadata(`{"k":"${'x'.repeat(20_000)}"}`)).toThrow('16 KiB');
    expect(() => parseCustomMetadata('{"bad key":1}')).toThrow("'customMetadata'");
  });

  test('transformation needs pre and/or post only', () => {
    expect(parseTransformation('{"pre":"w-300"}')).toEqual({ pre: 'w-300', post: [] });
    expect(() => parseTransformation('{"middle":1}')).toThrow("'transformation.middle'");
  });
});

describe('names', () => {
  test.each(['..', '../a', 'a/b', 'a\\b', 'nul\u0000', '.env', 'x'.repeat(256), ''])(
    'file name %j is refused',
    (name) => {
      expect(() => safeFileName(name)).toThrow("'fileName'");
    },
  );

  test('other characters become _ as ImageKit does', () => {
    expect(safeFileName('été vidéo (1).mp4')).toBe('_t__vid_o__1_.mp4');
    expect(safeFolder('/a b/c/')).toBe('a_b/c');
    expect(safeFolder('/')).toBe('');
  });

  test('a unique name has _ and 6 characters of [A-Za-z0-9_-] before the extension', () => {
    expect(uniqueName('clip.mp4')).toMatch(/^clip_[A-Za-z0-9_-]{6}\.mp4$/);
    expect(uniqueName('noext')).toMatch(/^noext_[A-Za-z0-9_-]{6}$/);
    expect(uniqueName('a.b.webm', 6, () => Buffer.from([0, 1, 2, 3, 62, 63]))).toBe('a.b_ABCD_-.webm');
  });

  test('file ids round-trip and refuse anything this server did not issue', () => {
    for (const path of ['a.mp4', 'deep/er/clip 1.mp4', 'été/vidéo.webm']) {
      expect(pathOfFileId(fileIdOf(path))).toBe(path);
      expect(fileIdOf(path)).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(pathOfFileId('')).toBeUndefined();
    expect(pathOfFileId('a/b')).toBeUndefined();
    expect(pathOfFileId(`${fileIdOf('a.mp4')}=`)).toBeUndefined();
    expect(pathOfFileId('AA')).toBeUndefined(); // a NUL byte
  });
});

describe('auth', () => {
  test('Basic: the private key as user name, any password', () => {
    const header = (user: string, password: string) =>
      `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    expect(basicUser(header('key', 'do_not_set'))).toBe('key');
    expect(() => checkBasic(header('key_one_1', ''), ['key_one_1'])).not.toThrow();
    expect(() => checkBasic(header('key_two_2', 'do_not_set'), ['key_one_1', 'key_two_2'])).not.toThrow();
    expect(() => checkBasic(header('key_one_X', ''), ['key_one_1'])).toThrow(/invalid private API key/);
    expect(() => checkBasic(undefined, ['key_one_1'])).toThrow(/Missing credentials/);
    expect(() => checkBasic('Bearer abc', ['key_one_1'])).toThrow(/Basic/);
  });

  test('token: HMAC-SHA1(private key, token + expire), within an hour, the public key must match', () => {
    const keys = { privateKeys: ['private_1'], publicKey: 'public_1' };
    const now = 1_800_000_000;
    const token = '5f6c2a3e-0000-4000-8000-000000000000';
    const ok = {
      publicKey: 'public_1',
      token,
      expire: String(now + 600),
      signature: signUploadToken('private_1', token, now + 600),
    };
    expect(checkToken(ok, keys, now)).toBe(now + 600);
    expect(() => checkToken({ ...ok, publicKey: 'other' }, keys, now)).toThrow(/public key/);
    expect(() =>
      checkToken({ ...ok, signature: ok.signature.replace(/^./, (c) => (c === '0' ? '1' : '0')) }, keys, now),
    ).toThrow(/Invalid signature/);
    expect(() => checkToken(ok, keys, now + 601)).toThrow(/expired/);
    const far = {
      ...ok,
      expire: String(now + 4000),
      signature: signUploadToken('private_1', token, now + 4000),
    };
    expect(() => checkToken(far, keys, now)).toThrow(/1 hour/);
    expect(() => checkToken(ok, { ...keys, publicKey: undefined }, now)).toThrow(/API_PUBLIC_KEY/);
    expect(tokenRecordKey(token, now + 600)).toMatch(/^tokens\/\d+\/[0-9a-f]{64}$/);
  });
});

describe('API settings', () => {
  const context = {
    maxSourceBytes: 2 * 1024 ** 3,
    bytes: (raw: string) => Number(raw),
    seconds: (raw: string) => Number(raw),
    integer: (min: number, max: number) => (raw: string) => {
      const value = Number(raw);
      if (!Number.isInteger(value) || value < min || value > max) throw new Error('out of range');
      return value;
    },
  };

  test('off without a key; keys are a comma list; problems name the variable, never the key', () => {
    expect(loadApiConfig({}, context).config.enabled).toBe(false);
    const on = loadApiConfig(
      { API_PRIVATE_KEY: 'first_key_1, second_key_2', PUBLIC_URL: 'https://cdn.example.com/' },
      context,
    );
    expect(on.problems).toEqual([]);
    expect(on.config).toMatchObject({
      enabled: true,
      privateKeys: ['first_key_1', 'second_key_2'],
      publicUrl: 'https://cdn.example.com',
    });
    expect(on.config.uploadMaxBytes).toBe(context.maxSourceBytes);
    const bad = loadApiConfig(
      {
        API_PRIVATE_KEY: 'short',
        API_PUBLIC_KEY: 'pk',
        PUBLIC_URL: 'ftp://x',
        UPLOAD_MAX_BYTES: String(3 * 1024 ** 3),
        UPLOAD_CONCURRENCY: '0',
      },
      context,
    );
    expect(bad.problems.join('\n')).toMatch(/API_PRIVATE_KEY/);
    expect(bad.problems.join('\n')).not.toMatch(/short/);
    expect(bad.problems.join('\n')).toMatch(/PUBLIC_URL/);
    expect(bad.problems.join('\n')).toMatch(/UPLOAD_MAX_BYTES/);
    expect(bad.problems.join('\n')).toMatch(/UPLOAD_CONCURRENCY/);
    expect(loadApiConfig({ API_PUBLIC_KEY: 'pk' }, context).problems.join()).toMatch(
      /API_PUBLIC_KEY is set but API_PRIVATE_KEY/,
    );
  });
});

describe('list queries', () => {
  test('path, tags, sort, skip and limit; the searchQuery subset; anything else names itself', async () => {
    const { parseListQuery, parseSearchQuery } = await import('./library.js');
    const query = parseListQuery(new URLSearchParams('path=/a/b&tags=x,y&sort=DESC_SIZE&skip=2&limit=5'));
    expect(query).toMatchObject({
      folder: 'a/b',
      tags: ['x', 'y'],
      sort: { by: 'size', descending: true },
      skip: 2,
      limit: 5,
    });
    expect(parseSearchQuery('tags IN ["a", "b"] AND name = "clip.mp4"')).toEqual({
      tags: ['a', 'b'],
      name: 'clip.mp4',
    });
    expect(parseListQuery(new URLSearchParams('searchQuery=tags = "a"')).tags).toEqual(['a']);
    expect(() => parseSearchQuery('size > 100')).toThrow("'searchQuery'");
    expect(() => parseListQuery(new URLSearchParams('limit=5000'))).toThrow("'limit'");
    expect(() => parseListQuery(new URLSearchParams('sort=RANDOM'))).toThrow("'sort'");
    expect(() => parseListQuery(new URLSearchParams('bogus=1'))).toThrow("'bogus'");
    expect(() => parseListQuery(new URLSearchParams('path=../x'))).toThrow("'path'");
  });
});

describe('loadConfig with the API settings', () => {
  test('API problems are reported together with the others, keys never echoed', async () => {
    const { loadConfig } = await import('../config/index.js');
    const error = (() => {
      try {
        loadConfig({ MAX_JOBS: 'many', API_PRIVATE_KEY: 'tiny', UPLOAD_QUEUE: '-1' });
      } catch (caught) {
        return caught as { problems: string[] };
      }
      return undefined;
    })();
    const text = error?.problems.join('\n') ?? '';
    expect(text).toMatch(/MAX_JOBS/);
    expect(text).toMatch(/API_PRIVATE_KEY/);
    expect(text).toMatch(/UPLOAD_QUEUE/);
    expect(text).not.toContain('tiny');
    expect(loadConfig({ API_PRIVATE_KEY: 'a_good_key_1' }).api).toMatchObject({
      enabled: true,
      uploadConcurrency: 4,
    });
  });
});

describe('upload form reading', () => {
  test('a body its client closed while the upload was queued fails at once, not after the idle timeout', async () => {
    const body = new PassThrough();
    body.write('--x\r\n');
    body.destroy();
    // Its 'close' has passed by the time the queued upload gets its slot.
    await new Promise((resolve) => setImmediate(resolve));
    const started = Date.now();
    const outcome = await Promise.race([
      readUploadForm(body, 'multipart/form-data; boundary=x', () => undefined).then(
        () => 'resolved',
        (error: Error) => error.message,
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 2000)),
    ]);
    expect(outcome).toMatch(/closed the connection/);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
