import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { AZURITE_KEY } from '../support/azurite.js';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  return [];
}

const CONNECTION = `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${AZURITE_KEY};EndpointSuffix=core.windows.net`;

describe('storage configuration: azure://, gs:// and RESULT_BUCKET', () => {
  test('azure:// with a connection string, an account key or a SAS token', () => {
    expect(
      loadConfig({ ORIGIN: 'azure://media/videos/', AZURE_STORAGE_CONNECTION_STRING: CONNECTION }),
    ).toMatchObject({
      origin: { kind: 'azure', container: 'media', prefix: 'videos/' },
      azure: { kind: 'connection-string', connectionString: CONNECTION },
    });
    expect(
      loadConfig({ ORIGIN: 'azure://media', AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_KEY: AZURITE_KEY })
        .azure,
    ).toEqual({ kind: 'key', account: 'acct', key: AZURITE_KEY });
    expect(
      loadConfig({
        ORIGIN: 'azure://media',
        AZURE_STORAGE_ACCOUNT: 'acct',
        AZURE_STORAGE_SAS: '?sv=2024-11-04&sp=rl&sig=abc',
      }).azure,
    ).toEqual({ kind: 'sas', account: 'acct', sas: 'sv=2024-11-04&sp=rl&sig=abc' });
  });

  test('RESULT_BUCKET takes s3://, gs:// and azure://, and a bare bucket/prefix still means S3', () => {
    const azure = { AZURE_STORAGE_CONNECTION_STRING: CONNECTION };
    expect(loadConfig({ RESULT_BUCKET: 's3://fleet/results' }).resultBucket).toEqual({
      kind: 's3',
      bucket: 'fleet',
      prefix: 'results/',
    });
    expect(loadConfig({ RESULT_BUCKET: 'fleet' }).resultBucket).toEqual({
      kind: 's3',
      bucket: 'fleet',
      prefix: '',
    });
    expect(loadConfig({ RESULT_BUCKET: 'gs://fleet/a/b' }).resultBucket).toEqual({
      kind: 'gs',
      bucket: 'fleet',
      prefix: 'a/b/',
    });
    expect(loadConfig({ ...azure, RESULT_BUCKET: 'azure://results/out' }).resultBucket).toEqual({
      kind: 'azure',
      bucket: 'results',
      prefix: 'out/',
    });
  });

  test('every bad storage value is reported at once, each naming its variable', () => {
    const problems = problemsOf({
      ORIGIN: 'azure://Bad_Container/x',
      RESULT_BUCKET: 'ftp://x/y',
      AZURE_STORAGE_ACCOUNT: 'Not-An-Account',
      AZURE_STORAGE_KEY: 'not base64!',
      MAX_JOBS: '0',
    });
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/^ORIGIN=.*'Bad_Container' is not a valid azure container name/m);
    expect(problems.join('\n')).toMatch(
      /^RESULT_BUCKET=.*expected s3:\/\/bucket\/prefix, gs:\/\/.*azure:\/\//m,
    );
    expect(problems.join('\n')).toMatch(/^AZURE_STORAGE_ACCOUNT=.*lower-case/m);
    expect(problems.join('\n')).toMatch(/^AZURE_STORAGE_KEY=.*base64/m);
    expect(problems.join('\n')).toMatch(/^MAX_JOBS=/m);
    // A credential is named, never echoed into the log.
    expect(problems.join('\n')).toContain('AZURE_STORAGE_KEY=(hidden)');
    expect(problems.join('\n')).not.toContain('not base64!');
  });

  test.each([
    [
      { ORIGIN: 'azure://media' },
      /azure:\/\/ in ORIGIN or RESULT_BUCKET needs AZURE_STORAGE_CONNECTION_STRING/,
    ],
    [{ RESULT_BUCKET: 'azure://results' }, /azure:\/\/ in ORIGIN or RESULT_BUCKET needs/],
    [
      { ORIGIN: 'azure://media', AZURE_STORAGE_KEY: AZURITE_KEY },
      /AZURE_STORAGE_KEY needs AZURE_STORAGE_ACCOUNT/,
    ],
    [
      { ORIGIN: 'azure://media', AZURE_STORAGE_SAS: 'sv=1&sig=2' },
      /AZURE_STORAGE_SAS needs AZURE_STORAGE_ACCOUNT/,
    ],
    [
      {
        ORIGIN: 'azure://media',
        AZURE_STORAGE_CONNECTION_STRING: CONNECTION,
        AZURE_STORAGE_SAS: 'sv=1&sig=2',
      },
      /set only one of them/,
    ],
    [
      { ORIGIN: 'azure://media', AZURE_STORAGE_CONNECTION_STRING: 'hello' },
      /AZURE_STORAGE_CONNECTION_STRING: expected a connection string/,
    ],
    [
      { ORIGIN: 'azure://media', AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_SAS: 'https://acct.blob/x' },
      /AZURE_STORAGE_SAS=.*SAS token/,
    ],
    [{ ORIGIN: 'gs://' }, /ORIGIN=.*expected gs:\/\/bucket/],
    [{ ORIGIN: 'azure://ab' }, /'ab' is not a valid azure container name/],
  ])('%j is refused: %s', (env, message) => {
    const problems = problemsOf(env as Record<string, string>);
    expect(problems.join('\n')).toMatch(message);
  });

  test('a key given with a SAS or connection string names no secret in the message', () => {
    const problems = problemsOf({
      ORIGIN: 'azure://media',
      AZURE_STORAGE_CONNECTION_STRING: CONNECTION,
      AZURE_STORAGE_ACCOUNT: 'acct',
      AZURE_STORAGE_KEY: AZURITE_KEY,
    });
    expect(problems).toEqual([
      'AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY and AZURE_STORAGE_SAS: set only one of them',
    ]);
  });
});
