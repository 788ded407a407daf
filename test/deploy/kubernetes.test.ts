import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Service } from 'kubernetes-models/v1/Service';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import { REPO_ROOT } from '../support/fixtures.js';

/**
 * The Kubernetes manifests (deploy/kubernetes/) validated against the Kubernetes API schemas
 * (kubernetes-models), since no cluster runs here, and checked for what must agree across files
 * and with the product: probe paths the proxy serves, the grace period against preStop and the
 * proxy's own graceful stop, CACHE_MAX_BYTES below the cache volume, selectors that match.
 */

const DIR = path.join(REPO_ROOT, 'deploy', 'kubernetes');
/** The proxy's graceful stop after SIGTERM: SHUTDOWN_GRACE_MS + KILL_GRACE_MS in src/index.ts. */
const GRACEFUL_STOP_S = 10 + 1;

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown };
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  Deployment,
  Service,
  HorizontalPodAutoscaler,
  PodDisruptionBudget,
  Ingress,
};

let manifests: Array<{ file: string; doc: Manifest }>;
// biome-ignore lint/suspicious/noExplicitAny: the manifests' shape is what the schemas check
type Json = any;
let deployment: Json;

function one(kind: string): Manifest {
  const found = manifests.filter(({ doc }) => doc.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!.doc;
}

/** `16GB`, `20Gi`, `512Mi` -> bytes (Kubernetes quantities and the proxy's sizes are both powers of 1024 here). */
function quantity(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/.exec(value);
  if (!match) throw new Error(`not a quantity: ${value}`);
  const unit = match[2] ?? '';
  const powers: Record<string, number> = {
    '': 1,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    K: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Number(match[1]) * powers[unit]!;
}

beforeAll(async () => {
  manifests = [];
  for (const file of (await readdir(DIR)).filter((name) => name.endsWith('.yaml')).sort()) {
    const text = await readFile(path.join(DIR, file), 'utf8');
    for (const document of parseAllDocuments(text)) {
      expect(document.errors, file).toEqual([]);
      manifests.push({ file, doc: document.toJS() as Manifest });
    }
  }
  deployment = one('Deployment');
});

describe('deploy/kubernetes', () => {
  test('every manifest validates against its Kubernetes schema', () => {
    const kinds = manifests.map(({ doc }) => doc.kind).filter((kind) => kind !== 'Kustomization');
    expect(kinds.sort()).toEqual([
      'Deployment',
      'HorizontalPodAutoscaler',
      'Ingress',
      'PodDisruptionBudget',
      'Service',
    ]);
    for (const { file, doc } of manifests) {
      if (doc.kind === 'Kustomization') continue;
      const Model = MODELS[doc.kind];
      expect(Model, `${file}: ${doc.kind}`).toBeDefined();
      expect(() => new Model!(doc as never).validate(), file).not.toThrow();
    }
  });

  test('the schemas have teeth: a misspelt or mistyped field is refused', () => {
    const typo = structuredClone(deployment);
    typo.spec.template.spec.containers[0].readinessProbe.httpGet.port = { name: 'http' };
    expect(() => new Deployment(typo).validate()).toThrow();
    const missing = structuredClone(deployment);
    delete missing.spec.selector;
    expect(() => new Deployment(missing).validate()).toThrow();
  });

  test('kustomization.yaml lists every manifest', () => {
    const kustomization = one('Kustomization') as unknown as { resources: string[] };
    const files = [...new Set(manifests.map(({ file }) => file))].filter(
      (file) => file !== 'kustomization.yaml',
    );
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  test("probes use the proxy's endpoints: readiness /readyz, liveness /healthz, on the container port", () => {
    const container = deployment.spec.template.spec.containers[0];
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    const portName = container.ports[0].name;
    expect(container.readinessProbe.httpGet.port).toBe(portName);
    expect(container.livenessProbe.httpGet.port).toBe(portName);
    const env = Object.fromEntries(
      container.env.map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    expect(Number(env.PORT)).toBe(container.ports[0].containerPort);
  });

  test("terminationGracePeriodSeconds covers preStop plus the proxy's graceful stop", () => {
    const spec = deployment.spec.template.spec;
    const preStop = spec.containers[0].lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe('sleep');
    const preStopSeconds = Number(preStop[1]);
    expect(preStopSeconds).toBeGreaterThan(0);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + GRACEFUL_STOP_S);
  });

  test("the proxy's graceful-stop constants are the ones this test assumes", async () => {
    const source = await readFile(path.join(REPO_ROOT, 'src', 'index.ts'), 'utf8');
    const grace = Number(/SHUTDOWN_GRACE_MS = ([\d_]+)/.exec(source)![1]!.replaceAll('_', ''));
    const kill = Number(/KILL_GRACE_MS = ([\d_]+)/.exec(source)![1]!.replaceAll('_', ''));
    expect((grace + kill) / 1000).toBe(GRACEFUL_STOP_S);
  });

  test("CACHE_MAX_BYTES is below the cache volume's sizeLimit, and CACHE_DIR is that volume", () => {
    const spec = deployment.spec.template.spec;
    const container = spec.containers[0];
    const env = Object.fromEntries(
      container.env.map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === env.CACHE_DIR);
    expect(mount, 'a volume mounted at CACHE_DIR').toBeDefined();
    const volume = spec.volumes.find((v: { name: string }) => v.name === mount.name);
    const sizeLimit = quantity(volume.emptyDir.sizeLimit);
    // Parsed the way the proxy parses it.
    const config = loadConfig({
      CACHE_MAX_BYTES: env.CACHE_MAX_BYTES,
      MEMORY_CACHE_MAX_BYTES: env.MEMORY_CACHE_MAX_BYTES,
    });
    expect(config.cacheMaxBytes).toBeLessThan(sizeLimit);
    // Room for encodes in progress and temp files beside the cap.
    expect(sizeLimit - config.cacheMaxBytes).toBeGreaterThanOrEqual(2 * 2 ** 30);
    // The memory tier fits in the memory request beside an idle process (~126 MiB) and two ffmpeg jobs.
    expect(config.memoryCacheMaxBytes + 126 * 2 ** 20 + 2 * 123 * 2 ** 20).toBeLessThan(
      quantity(container.resources.requests.memory),
    );
    // Every variable the manifest sets is one the proxy accepts.
    expect(() => loadConfig({ ...env, ORIGIN: '/tmp' })).not.toThrow();
  });

  test('the non-root user matches the image, and the root filesystem is read-only with writable /tmp and cache', async () => {
    const spec = deployment.spec.template.spec;
    const dockerfile = await readFile(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(spec.securityContext.runAsNonRoot).toBe(true);
    expect(spec.securityContext.runAsUser).toBe(1000);
    const container = spec.containers[0];
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    const mounted = container.volumeMounts.map((m: { mountPath: string }) => m.mountPath);
    expect(mounted).toContain('/tmp');
  });

  test('Service, HPA, PDB and Ingress point at the Deployment and its pods', () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(labels);
    const service = one('Service') as Json;
    for (const [key, value] of Object.entries(service.spec.selector)) expect(labels[key]).toBe(value);
    expect(service.spec.ports[0].targetPort).toBe(deployment.spec.template.spec.containers[0].ports[0].name);
    const hpa = one('HorizontalPodAutoscaler') as Json;
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
    // CPU utilisation is measured against the request, so the Deployment must set one.
    expect(deployment.spec.template.spec.containers[0].resources.requests.cpu).toBeDefined();
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    const pdb = one('PodDisruptionBudget') as Json;
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    const ingress = one('Ingress') as Json;
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    expect(backend.name).toBe(service.metadata.name);
    expect(backend.port.name).toBe(service.spec.ports[0].name);
  });

  test('the Ingress hashes like deploy/nginx: by request URI, consistent, unbuffered, same failover', async () => {
    const annotations = (one('Ingress') as Json).metadata.annotations as Record<string, string>;
    expect(annotations['nginx.ingress.kubernetes.io/upstream-hash-by']).toBe('$request_uri');
    expect(annotations['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
    const nginx = await readFile(path.join(REPO_ROOT, 'deploy', 'nginx', 'ik-video-proxy.conf'), 'utf8');
    expect(nginx).toMatch(/hash \$request_uri consistent;/);
    const failover = /proxy_next_upstream ([^;]+);/.exec(nginx)![1];
    expect(annotations['nginx.ingress.kubernetes.io/proxy-next-upstream']).toBe(failover);
  });
});
