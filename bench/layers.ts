/**
 * Scenario 10: layers cost what the same ffmpeg command costs. A watermarked 360p transcode and a
 * watermarked first 720p HLS segment of the 60 s 1080p source, each against raw ffmpeg running the
 * argv the product builds for it (planVideo/planAbs + the layer filter graph) on local files.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { absVideoSegmentArgs } from '../src/abs/argv.js';
import { planAbs } from '../src/abs/plan.js';
import { layerGraph } from '../src/layers/filters.js';
import { planLayers } from '../src/layers/plan.js';
import { lastVideoLabel, videoArgs } from '../src/media/video-argv.js';
import { planVideo } from '../src/plan/index.js';
import { parseRequestUrl } from '../src/url/request.js';
import { localiseArgv, probeLocal } from './reference.js';
import { type Row, ratioText } from './report.js';
import type { BenchContext } from './scenarios.js';
import { formatMs, median, mustRun, runStreamed, timedGet } from './util.js';

export const LAYERS_SCENARIO = 10;
/** The watermark's object key in the bench bucket. */
export const LOGO_KEY = 'bench-logo.png';
const REPS = 3;
const LAYER = `l-image,i-${LOGO_KEY},w-120,lfo-bottom_right,al-7,l-end`;
const PLACEHOLDER = 'http://127.0.0.1:1/s/bench';
const LIMITS = {
  maxOutputPixels: 8_294_400,
  maxSourceDuration: 3 * 3600,
  maxSourcePixels: 9_437_184,
  maxSourceStreams: 16,
};

/** A 240x80 PNG with transparency: the watermark, uploaded beside the sources and kept locally. */
export async function makeLogo(work: string): Promise<{ file: string; bytes: Buffer }> {
  const svg = Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="80"><rect width="240" height="80" rx="16" fill="#ff3300" fill-opacity="0.8"/><circle cx="40" cy="40" r="24" fill="#ffffff"/></svg>',
  );
  const bytes = await sharp(svg).png().toBuffer();
  const file = path.join(work, 'bench-logo.png');
  await writeFile(file, bytes);
  return { file, bytes };
}

function layersOf(tr: string, pathname = '/source.mp4') {
  return parseRequestUrl(pathname, `tr=${encodeURIComponent(tr)}`, { named: {} }).params;
}

async function references(ctx: BenchContext, logo: string) {
  const info = await probeLocal(ctx.media.big);
  const resolved = new Map([['1', { kind: 'image' as const, file: logo, width: 240, height: 80 }]]);
  // The transcode: h-360 with the watermark, as the video output builds it.
  const params = layersOf(`h-360,${LAYER}`);
  const plan = planVideo(params, info, LIMITS, 'mp4');
  if (plan.kind !== 'video') throw new Error('h-360 does not plan a video');
  const frame = { width: plan.width, height: plan.height, duration: plan.expectedSeconds };
  const planned = planLayers(params.layers ?? [], frame, resolved, LIMITS.maxOutputPixels);
  const built = layerGraph(planned, lastVideoLabel(plan.ops), 'vl', {
    firstInput: 1,
    timeOffset: 0,
    format: 'yuv420p',
  });
  const transcode = localiseArgv(
    videoArgs({ url: PLACEHOLDER, demuxer: 'mov' }, plan, 0, built),
    PLACEHOLDER,
    ctx.media.big,
    'pipe:1',
  );
  // Segment 0 of the 720p rendition with the watermark on the source frame.
  const absParams = layersOf(`${LAYER}:sr-720`, '/source.mp4/ik-master.m3u8');
  const abs = planAbs(absParams, info, 4);
  const absFrame = { width: abs.sourceWidth, height: abs.sourceHeight, duration: abs.end - abs.start };
  const absPlanned = planLayers(absParams.layers ?? [], absFrame, resolved, LIMITS.maxOutputPixels);
  const absBuilt = layerGraph(absPlanned, 'lin', 'lout', { firstInput: 1, timeOffset: 0, format: 'yuv420p' });
  const steps = absVideoSegmentArgs({ url: PLACEHOLDER, demuxer: 'mov' }, abs, 720, 0, absBuilt).steps;
  const segment = localiseArgv(steps[0]!, PLACEHOLDER, ctx.media.big, path.join(ctx.work, 'ref-wm-seg.mp4'));
  return { transcode, segment };
}

/** The first segment URL of the 720p rendition, read from the playlists the proxy wrote. */
async function firstSegment(masterUrl: string): Promise<string> {
  const master = await timedGet(masterUrl, { keepBody: true });
  if (master.status !== 200) throw new Error(`${masterUrl} answered ${master.status}`);
  const variant = master
    .body!.toString('utf8')
    .split('\n')
    .find((line) => line.startsWith('ik-abs/720/'));
  if (!variant) throw new Error('no 720p variant listed');
  const variantUrl = new URL(variant, masterUrl).href;
  const playlist = await timedGet(variantUrl, { keepBody: true });
  const uri = playlist
    .body!.toString('utf8')
    .split('\n')
    .find((line) => line.startsWith('seg-'));
  if (!uri) throw new Error('no segment listed');
  return new URL(uri, variantUrl).href;
}

/** Scenario 10: watermarked 360p transcode and first HLS segment vs the same raw ffmpeg argv. */
export async function watermarked(ctx: BenchContext, logo: string): Promise<Row[]> {
  const ref = await references(ctx, logo);
  const transcode: number[] = [];
  const plain: number[] = [];
  const transcodeRef: number[] = [];
  const segment: number[] = [];
  const segmentRef: number[] = [];
  const out = path.join(ctx.work, 'ref-wm-360.mp4');
  for (let rep = 1; rep <= REPS; rep++) {
    const key = await ctx.freshCopy('big', `s10-${rep}`);
    await ctx.settle();
    const video = await timedGet(`${ctx.proxy.url}/${key}?tr=${encodeURIComponent(`h-360,${LAYER}`)}`);
    if (video.status !== 200) throw new Error(`watermarked transcode answered ${video.status}`);
    transcode.push(video.totalMs);
    await ctx.settle();
    transcodeRef.push((await runStreamed('ffmpeg', ref.transcode, out)).ms);
    // The same transcode without the watermark, through the proxy: what the layer itself costs.
    await ctx.settle();
    const bare = await timedGet(`${ctx.proxy.url}/${await ctx.freshCopy('big', `s10p-${rep}`)}?tr=h-360`);
    if (bare.status !== 200) throw new Error(`plain transcode answered ${bare.status}`);
    plain.push(bare.totalMs);
    const master = `${ctx.proxy.url}/${key}/ik-master.m3u8?tr=${encodeURIComponent(`${LAYER}:sr-720`)}`;
    const segmentUrl = await firstSegment(master);
    await ctx.settle();
    const timed = await timedGet(segmentUrl);
    if (timed.status !== 200) throw new Error(`watermarked segment answered ${timed.status}`);
    segment.push(timed.totalMs);
    await ctx.settle();
    segmentRef.push((await mustRun('ffmpeg', ref.segment)).ms);
  }
  ctx.details.push(
    `10: watermark \`${LAYER}\` (a 240x80 PNG from the bucket); transcode reference \`ffmpeg ${ref.transcode.join(' ')}\`; segment reference \`ffmpeg ${ref.segment.join(' ')}\`.`,
  );
  const transcodeRatio = median(transcode) / median(transcodeRef);
  const segmentRatio = median(segment) / median(segmentRef);
  const scenario = `${LAYERS_SCENARIO} watermark`;
  return [
    {
      scenario,
      metric: 'watermarked 360p transcode of the 60 s 1080p source',
      proxy: formatMs(median(transcode)),
      reference: `${formatMs(median(transcodeRef))} (same argv, local files)`,
      ratio: ratioText(transcodeRatio),
      bar: '<= 1.1x',
      pass: transcodeRatio <= 1.1,
    },
    {
      scenario,
      metric: 'the watermark itself: watermarked vs plain 360p transcode, both through the proxy',
      proxy: formatMs(median(transcode)),
      reference: `${formatMs(median(plain))} (h-360 alone)`,
      ratio: ratioText(median(transcode) / median(plain)),
      bar: '(info)',
      pass: undefined,
    },
    {
      scenario,
      metric: 'watermarked first 720p HLS segment (4 s)',
      proxy: formatMs(median(segment)),
      reference: `${formatMs(median(segmentRef))} (same argv, local files)`,
      ratio: ratioText(segmentRatio),
      bar: '<= 1.3x',
      pass: segmentRatio <= 1.3,
    },
  ];
}
