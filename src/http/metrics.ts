import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { LimiterStats } from '../render/limiter.js';

/** Live figures the metrics read at scrape time. */
export interface MetricSources {
  limiter: () => LimiterStats;
  origin: () => { requests: number; bytes: number };
  liveChildren: () => number;
}

/**
 * The proxy's Prometheus metrics. One registry per proxy instance, so tests can build several.
 * Counters that are events (requests, hits, job outcomes) are incremented by hooks; figures that
 * are state (queue depth, origin totals) are read when scraped.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'kind' | 'status'>;
  readonly #requestSeconds: Histogram<'kind'>;
  readonly #cache: Counter<'result'>;
  readonly #jobSeconds: Histogram<'kind' | 'outcome'>;
  readonly #ffmpegFailures: Counter<'kind'>;
  readonly #cacheWriteFailures: Counter;
  readonly #pendingRequests = new Map<string, number>();
  readonly #pendingCache = new Map<string, number>();
  readonly #histogramChildren = new Map<string, { observe(value: number): void }>();

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'ikvp_' });
    this.#requests = new Counter({
      name: 'ikvp_requests_total',
      help: 'HTTP requests by output kind and status',
      labelNames: ['kind', 'status'],
      registers,
    });
    this.#requestSeconds = new Histogram({
      name: 'ikvp_request_seconds',
      help: 'Time to the response head, by output kind',
      labelNames: ['kind'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#cache = new Counter({
      name: 'ikvp_cache_lookups_total',
      help: 'Output cache lookups: hit_memory, hit_disk, hit_s3, hit_azure, miss, streaming',
      labelNames: ['result'],
      registers,
    });
    this.#jobSeconds = new Histogram({
      name: 'ikvp_job_seconds',
      help: 'ffmpeg job wall time by kind and outcome',
      labelNames: ['kind', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.#ffmpegFailures = new Counter({
      name: 'ikvp_job_failures_total',
      help: 'ffmpeg jobs that failed, by kind',
      labelNames: ['kind'],
      registers,
    });
    this.#cacheWriteFailures = new Counter({
      name: 'ikvp_cache_write_failures_total',
      help: 'Outputs that could not be stored',
      registers,
    });
    new Gauge({
      name: 'ikvp_jobs_running',
      help: 'ffmpeg jobs running now',
      registers,
      collect() {
        this.set(sources.limiter().running);
      },
    });
    new Gauge({
      name: 'ikvp_jobs_queued',
      help: 'Jobs waiting for a slot',
      registers,
      collect() {
        this.set(sources.limiter().queued);
      },
    });
    new Gauge({
      name: 'ikvp_jobs_rejected',
      help: 'Jobs refused with 503 since start',
      registers,
      collect() {
        this.set(sources.limiter().rejected);
      },
    });
    new Gauge({
      name: 'ikvp_ffmpeg_processes',
      help: 'ffmpeg/ffprobe child processes alive',
      registers,
      collect() {
        this.set(sources.liveChildren());
      },
    });
    new Gauge({
      name: 'ikvp_origin_requests',
      help: 'Origin reads since start',
      registers,
      collect() {
        this.set(sources.origin().requests);
      },
    });
    new Gauge({
      name: 'ikvp_origin_bytes',
      help: 'Bytes read from the origin since start',
      registers,
      collect() {
        this.set(sources.origin().bytes);
      },
    });
  }

  /**
   * Records one finished request. Counts are kept in plain maps and handed to prom-client at
   * scrape time: label hashing on every cache hit cost more than the rest of the hit.
   */
  request(kind: string, status: number, seconds: number, cacheHeader: string | null): void {
    const requestKey = `${kind}\u0000${status}`;
    this.#pendingRequests.set(requestKey, (this.#pendingRequests.get(requestKey) ?? 0) + 1);
    if (cacheHeader) this.#pendingCache.set(cacheHeader, (this.#pendingCache.get(cacheHeader) ?? 0) + 1);
    let histogram = this.#histogramChildren.get(kind);
    if (!histogram) {
      histogram = this.#requestSeconds.labels({ kind });
      this.#histogramChildren.set(kind, histogram);
    }
    histogram.observe(seconds);
  }

  #flushPending(): void {
    for (const [key, count] of this.#pendingRequests) {
      const [kind, status] = key.split('\u0000') as [string, string];
      this.#requests.inc({ kind, status }, count);
    }
    this.#pendingRequests.clear();
    for (const [label, count] of this.#pendingCache) {
      this.#cache.inc({ result: label.toLowerCase().replace('-', '_') }, count);
    }
    this.#pendingCache.clear();
  }

  /** Records one finished ffmpeg job. */
  job(kind: string, seconds: number, ok: boolean): void {
    this.#jobSeconds.observe({ kind, outcome: ok ? 'ok' : 'failed' }, seconds);
    if (!ok) this.#ffmpegFailures.inc({ kind });
  }

  cacheWriteFailed(): void {
    this.#cacheWriteFailures.inc();
  }

  /** Prometheus exposition text. */
  text(): Promise<string> {
    this.#flushPending();
    return this.registry.metrics();
  }
}
