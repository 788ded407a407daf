import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running Azurite blob service on 127.0.0.1 with a client pointed at it. */
export interface TestAzurite {
  /** `http://127.0.0.1:<port>/devstoreaccount1`: the account's blob endpoint. */
  blobEndpoint: string;
  connectionString: string;
  client: BlobServiceClient;
  /** Environment that makes the proxy talk to this server. */
  env: Record<string, string>;
  createContainer(name: string): Promise<void>;
  putBlob(container: string, name: string, body: Buffer | string, contentType?: string): Promise<void>;
  close(): Promise<void>;
}

const BIN = path.resolve(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'azurite-blob');

/**
 * Runs Azurite (argv[1] on) as its child and kills it when stdin closes: a test worker killed
 * without calling `close()` (a failed setup, a timeout, vitest ending the worker) closes the pipe,
 * so Azurite never outlives the tests. SIGTERM is passed on; the watchdog exits with Azurite,
 * removing its temporary folder.
 */
const WATCHDOG = `
const { spawn } = require('node:child_process');
const azurite = spawn(process.argv[1], process.argv.slice(2), { stdio: ['ignore', 'inherit', 'inherit'] });
process.stdin.on('end', () => azurite.kill('SIGKILL'));
process.stdin.on('error', () => azurite.kill('SIGKILL'));
process.stdin.resume();
process.on('SIGTERM', () => azurite.kill('SIGTERM'));
azurite.on('exit', (code, signal) => {
  // The temporary folder goes with it, even when close() never ran.
  const at = process.argv.indexOf('--location');
  if (at > 0) require('node:fs').rmSync(process.argv[at + 1], { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});
`;

/** Waits for Azurite's "successfully listens on http://..." line and returns that URL. */
function listeningUrl(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => fail(new Error(`Azurite did not start in ${timeoutMs} ms: ${output}`)),
      timeoutMs,
    );
    function fail(error: Error): void {
      clearTimeout(timer);
      // Closing stdin makes the watchdog kill Azurite and exit.
      child.stdin?.end();
      reject(error);
    }
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listens on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => fail(new Error(`Azurite exited (${code}) before listening: ${output}`)));
  });
}

/**
 * Starts Azurite's blob service (from node_modules) on a free loopback port with its own temporary
 * folder, like `startTestS3` does for s3rver.
 */
export async function startTestAzurite(): Promise<TestAzurite> {
  const location = await mkdtemp(path.join(os.tmpdir(), 'azurite-'));
  const child = spawn(
    process.execPath,
    [
      '-e',
      WATCHDOG,
      BIN,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--location',
      location,
      '--skipApiVersionCheck',
      '--loose',
      '--silent',
    ],
    // stdin is the watchdog's lifeline: it closes when this process ends, however it ends.
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let url: string;
  try {
    url = await listeningUrl(child, 30_000);
  } catch (error) {
    await rm(location, { recursive: true, force: true });
    throw error;
  }
  const blobEndpoint = `${url}/${AZURITE_ACCOUNT}`;
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};` +
    `AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`;
  const client = BlobServiceClient.fromConnectionString(connectionString);
  return {
    blobEndpoint,
    connectionString,
    client,
    env: { AZURE_STORAGE_CONNECTION_STRING: connectionString },
    async createContainer(name) {
      await client.getContainerClient(name).createIfNotExists();
    },
    async putBlob(container, name, body, contentType) {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      await client
        .getContainerClient(container)
        .getBlockBlobClient(name)
        .uploadData(bytes, { blobHTTPHeaders: contentType ? { blobContentType: contentType } : undefined });
    },
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.stdin?.end(), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(location, { recursive: true, force: true });
    },
  };
}
