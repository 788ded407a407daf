#!/usr/bin/env node
/**
 * Makes the small, deterministic media the tests and the default origin use, into `fixtures/`,
 * and writes `fixtures/manifest.json` describing what each file is *meant* to be (test/fixtures.test.ts
 * checks every file against it with ffprobe, so the manifest cannot drift from the bytes).
 *
 * Usage: node scripts/make-fixtures.mjs [--force] [--quiet]
 *   --force  regenerate every file, even those that exist
 *   --quiet  print nothing when there is nothing to do
 *
 * Every input is a lavfi source (testsrc2, mandelbrot, smptebars, sine) and every encode is
 * single-threaded with bit-exact flags and no copied metadata, so re-running with the same ffmpeg
 * build gives identical bytes. Files are written to a temporary name and renamed, so an interrupted
 * run never leaves a half-written fixture that a later run would skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES_DIR = path.join(REPO_ROOT, 'fixtures');
const MANIFEST_PATH = path.join(FIXTURES_DIR, 'manifest.json');
const FFMPEG = process.env.FFMPEG_PATH || 'ffmpeg';
const INSTALL_HINT = 'sudo apt-get update && sudo apt-get install -y ffmpeg';
const REQUIRED_ENCODERS = [
  'libx264',
  'libx265',
  'libaom-av1',
  'libvpx',
  'libvpx-vp9',
  'libopus',
  'libvorbis',
  'libtheora',
  'aac',
  'mp2',
  'mpeg4',
  'h263',
];

/** ffprobe's `format_name` for each container the table uses. */
const FORMAT_NAMES = {
  mp4: 'mov,mp4,m4a,3gp,3g2,mj2',
  mov: 'mov,mp4,m4a,3gp,3g2,mj2',
  '3gp': 'mov,mp4,m4a,3gp,3g2,mj2',
  m4a: 'mov,mp4,m4a,3gp,3g2,mj2',
  webm: 'matroska,webm',
  mpeg: 'mpeg',
  mpegts: 'mpegts',
  ogg: 'ogg',
  hevc: 'hevc',
};

/** Splits an option string into argv words (no option value here contains a space). */
const words = (text) => text.split(/\s+/).filter(Boolean);

// Determinism: no encoder/muxer version strings, no source metadata, one thread (frame-threaded
// encoders otherwise make different decisions from run to run).
const BITEXACT = words('-map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact');
const ONE_THREAD = words('-threads 1');

const x264 = (crf, gop) => `-c:v libx264 -preset veryfast -crf ${crf} -g ${gop} -pix_fmt yuv420p`;
const X265 =
  '-c:v libx265 -preset fast -crf 30 -pix_fmt yuv420p -x265-params pools=none:frame-threads=1:log-level=error';
// libaom with row-mt off and one thread is deterministic; SVT-AV1 runs its own thread pools.
const AV1 = '-c:v libaom-av1 -cpu-used 8 -row-mt 0 -b:v 120k -g 48';
const VP8 = '-c:v libvpx -b:v 300k -g 48 -deadline good -cpu-used 5';
const VP9 = '-c:v libvpx-vp9 -b:v 250k -g 48 -deadline good -cpu-used 5 -row-mt 0';
const MPEG4 = '-c:v mpeg4 -q:v 14 -g 50';
const aac = (bitrate = '64k') => `-c:a aac -b:a ${bitrate}`;
const OPUS = '-c:a libopus -b:a 48k';
const VORBIS = '-c:a libvorbis -q:a 1';
const MP2 = '-c:a mp2 -b:a 96k';

/**
 * Every media fixture. `video.width/height` are the coded size; the display size follows from
 * `video.rotation` (clockwise degrees). `video.source` is the lavfi pattern, `video.sourceSize` an
 * optional different size to generate before `video.filter`. `muxer` is passed with `-f`, so the
 * extension never decides the format. `remux` runs a stream-copy pass with extra output options.
 */
const MEDIA_FIXTURES = [
  {
    name: 'sample.mp4',
    container: 'mp4',
    muxer: 'mp4',
    duration: 12,
    video: { codec: 'h264', width: 1280, height: 720, fps: 30, encode: x264(32, 60) },
    audio: { codec: 'aac', encode: `${aac('96k')} -ac 2`, beep: true },
    output: '-movflags +faststart',
    traits: ['faststart'],
    description:
      'The main sample: 1280x720 30 fps H.264 + stereo AAC, 12 s, moving test pattern, beeping tone, ' +
      'keyframe every 2 s, moov at the front.',
  },
  {
    name: 'mpeg4-aac.mp4',
    container: 'mp4',
    muxer: 'mp4',
    duration: 3,
    video: { codec: 'mpeg4', width: 640, height: 360, fps: 25, encode: MPEG4 },
    audio: { codec: 'aac', encode: aac() },
    description: 'MPEG-4 Part 2 video + AAC in MP4.',
  },
  {
    name: 'hevc-aac.mp4',
    container: 'mp4',
    muxer: 'mp4',
    duration: 3,
    video: { codec: 'hevc', width: 640, height: 360, fps: 25, encode: `${X265} -tag:v hvc1` },
    audio: { codec: 'aac', encode: aac() },
    description: 'HEVC (tagged hvc1, as Apple devices write it) + AAC in MP4.',
  },
  {
    name: 'av1-opus.mp4',
    container: 'mp4',
    muxer: 'mp4',
    duration: 2,
    video: { codec: 'av1', width: 320, height: 180, fps: 24, encode: AV1 },
    audio: { codec: 'opus', encode: OPUS },
    description: 'AV1 + Opus in MP4 (tiny).',
  },
  {
    name: 'mpeg4-aac.mov',
    container: 'mov',
    muxer: 'mov',
    duration: 3,
    video: { codec: 'mpeg4', width: 640, height: 360, fps: 25, encode: MPEG4 },
    audio: { codec: 'aac', encode: aac() },
    description: 'MPEG-4 Part 2 + AAC in QuickTime MOV.',
  },
  {
    name: 'h264-aac.mov',
    container: 'mov',
    muxer: 'mov',
    duration: 3,
    video: { codec: 'h264', width: 640, height: 360, fps: 30, encode: x264(30, 60) },
    audio: { codec: 'aac', encode: aac() },
    description: 'H.264 + AAC in QuickTime MOV.',
  },
  {
    name: 'vp8-opus.webm',
    container: 'webm',
    muxer: 'webm',
    duration: 3,
    video: { codec: 'vp8', width: 640, height: 360, fps: 24, encode: VP8 },
    audio: { codec: 'opus', encode: OPUS },
    description: 'VP8 + Opus in WebM.',
  },
  {
    name: 'vp9-opus.webm',
    container: 'webm',
    muxer: 'webm',
    duration: 3,
    video: { codec: 'vp9', source: 'mandelbrot', width: 640, height: 360, fps: 24, encode: VP9 },
    audio: { codec: 'opus', encode: OPUS, frequency: 660 },
    description: 'VP9 + Opus in WebM (Mandelbrot zoom).',
  },
  {
    name: 'av1-opus.webm',
    container: 'webm',
    muxer: 'webm',
    duration: 2,
    video: { codec: 'av1', width: 320, height: 180, fps: 24, encode: AV1 },
    audio: { codec: 'opus', encode: OPUS },
    description: 'AV1 + Opus in WebM (tiny).',
  },
  {
    name: 'mpeg1-mp2.mpg',
    container: 'mpeg',
    muxer: 'mpeg',
    duration: 3,
    video: {
      codec: 'mpeg1video',
      width: 352,
      height: 240,
      fps: 30,
      encode: '-c:v mpeg1video -b:v 300k -g 15',
    },
    audio: { codec: 'mp2', encode: MP2, sampleRate: 44100 },
    description: 'MPEG-1 video + MP2 in an MPEG-1 program stream (SIF size).',
  },
  {
    name: 'mpeg2-mp2.mpg',
    container: 'mpeg',
    muxer: 'vob',
    duration: 3,
    video: {
      codec: 'mpeg2video',
      width: 640,
      height: 360,
      fps: 25,
      encode: '-c:v mpeg2video -b:v 400k -g 12',
    },
    audio: { codec: 'mp2', encode: MP2 },
    description: 'MPEG-2 video + MP2 in an MPEG-2 program stream (VOB flavour).',
  },
  {
    name: 'h263-aac.3gp',
    container: '3gp',
    muxer: '3gp',
    duration: 3,
    video: {
      codec: 'h263',
      source: 'smptebars',
      width: 176,
      height: 144,
      fps: 15,
      encode: '-c:v h263 -b:v 100k -g 15',
    },
    audio: { codec: 'aac', encode: aac('32k'), sampleRate: 22050 },
    description: 'H.263 (QCIF) + AAC in 3GP, as old phones recorded.',
  },
  {
    name: 'theora-vorbis.ogv',
    container: 'ogg',
    muxer: 'ogg',
    duration: 3,
    video: { codec: 'theora', width: 320, height: 180, fps: 25, encode: '-c:v libtheora -q:v 3 -g 25' },
    audio: { codec: 'vorbis', encode: VORBIS, sampleRate: 44100 },
    description: 'Theora + Vorbis in Ogg, .ogv extension.',
  },
  {
    name: 'theora-vorbis.ogg',
    container: 'ogg',
    muxer: 'ogg',
    duration: 3,
    video: {
      codec: 'theora',
      // The default moving source: libtheora drops repeated frames of a still picture (smptebars),
      // which left 3 frames in 3 s.
      width: 320,
      height: 180,
      fps: 25,
      encode: '-c:v libtheora -q:v 3 -g 25',
    },
    audio: { codec: 'vorbis', encode: VORBIS, sampleRate: 44100, frequency: 550 },
    description: 'Theora + Vorbis in Ogg, .ogg extension (same format; the name must not matter).',
  },
  {
    name: 'raw.hevc',
    container: 'hevc',
    muxer: 'hevc',
    duration: 2,
    video: { codec: 'hevc', width: 320, height: 180, fps: 25, encode: X265 },
    traits: ['no-audio', 'elementary-stream'],
    description: 'A raw HEVC Annex B elementary stream: no container, no audio, no duration in any header.',
  },
  {
    name: 'mpeg2-ts.mts',
    container: 'mpegts',
    muxer: 'mpegts',
    duration: 3,
    video: {
      codec: 'mpeg2video',
      width: 640,
      height: 360,
      fps: 25,
      encode: '-c:v mpeg2video -b:v 400k -g 12',
    },
    audio: { codec: 'mp2', encode: MP2 },
    description: 'MPEG-2 video + MP2 in an MPEG transport stream, .mts extension.',
  },
  {
    name: 'moov-at-end.mp4',
    container: 'mp4',
    muxer: 'mp4',
    duration: 4,
    video: { codec: 'h264', width: 640, height: 360, fps: 30, encode: x264(30, 60) },
    audio: { codec: 'aac', encode: aac(), beep: true },
    traits: ['moov-at-end'],
    description:
      'H.264 + AAC with the moov atom after mdat (no faststart): a reader must look at the end first.',
  },
  {
    name: 'rotated-phone.mp4',
    container: 'mp4',
    muxer: 'mp4',
    duration: 2,
    video: {
      codec: 'h264',
      width: 1920,
      height: 1080,
      fps: 30,
      rotation: 90,
      // Corner markers (coded): red top-left, blue bottom-left. Upright, red is top-right and blue top-left.
      filter:
        'drawbox=x=0:y=0:w=200:h=200:color=red:t=fill,drawbox=x=0:y=ih-200:w=200:h=200:color=blue:t=fill',
      encode: x264(36, 30),
    },
    audio: { codec: 'aac', encode: aac() },
    // ffmpeg 5.1 has no -display_rotation, and drops a `rotate` tag while encoding; a stream-copy remux
    // keeps it. Its CLI stores the tag with the opposite sign to older releases, so 270 is what yields
    // the phone-style matrix (ffprobe rotation -90 = turn 90 degrees clockwise to display).
    remux: '-metadata:s:v:0 rotate=270',
    traits: ['rotated', 'portrait'],
    description:
      'A phone clip: 1920x1080 coded, display matrix says turn 90 degrees clockwise (ffprobe rotation -90), so it ' +
      'displays as 1080x1920 portrait. Red and blue squares mark the coded top-left and bottom-left corners: ' +
      'shown upright, red is at the top right and blue at the top left.',
  },
  {
    name: 'portrait.mp4',
    container: 'mp4',
    muxer: 'mp4',
    duration: 3,
    video: { codec: 'h264', width: 720, height: 1280, fps: 30, encode: x264(36, 60) },
    audio: { codec: 'aac', encode: aac() },
    traits: ['portrait'],
    description: 'A true portrait clip: 720x1280 coded, no rotation metadata.',
  },
  {
    name: 'odd-dimensions.mp4',
    container: 'mp4',
    muxer: 'mp4',
    duration: 3,
    video: {
      codec: 'mpeg4',
      width: 641,
      height: 359,
      fps: 25,
      sourceSize: '642x360',
      // Crop in 4:4:4: filters round a 4:2:0 frame down to even dimensions otherwise.
      filter: 'format=yuv444p,crop=641:359:0:0,format=yuv420p',
      encode: MPEG4,
    },
    audio: { codec: 'aac', encode: aac() },
    traits: ['odd-dimensions'],
    description:
      '641x359 4:2:0 video (MPEG-4 Part 2 allows odd sizes, x264 does not): outputs must round to even sizes.',
  },
  {
    name: 'no-audio.mp4',
    container: 'mp4',
    muxer: 'mp4',
    duration: 3,
    video: { codec: 'h264', width: 640, height: 360, fps: 30, encode: x264(30, 60) },
    traits: ['no-audio'],
    description: 'H.264 only, no audio stream at all.',
  },
  {
    name: 'vfr.mp4',
    container: 'mp4',
    muxer: 'mp4',
    duration: 4,
    video: {
      codec: 'h264',
      width: 640,
      height: 360,
      fps: 30,
      variableFrameRate: true,
      // Keep every frame in the first half of each second, every third frame in the second half.
      filter: "select='lt(mod(n\\,30)\\,15)+not(mod(n\\,3))'",
      encode: `-vsync vfr ${x264(30, 60)}`,
    },
    audio: { codec: 'aac', encode: aac() },
    traits: ['vfr'],
    description:
      'Variable frame rate: 30 fps bursts alternating with 10 fps stretches (frames dropped, timestamps kept).',
  },
  {
    name: 'audio-only.m4a',
    container: 'm4a',
    muxer: 'ipod',
    duration: 5,
    audio: { codec: 'aac', encode: aac('96k'), beep: true },
    traits: ['audio-only'],
    description: 'AAC audio only in an M4A file: no video stream.',
  },
];

/** The ffmpeg arguments (inputs and output options, no output path) that make one media fixture. */
function mediaArgv({ video, audio, duration, output = '', muxer }) {
  const argv = [];
  if (video) {
    const size = video.sourceSize ?? `${video.width}x${video.height}`;
    // mandelbrot has no duration option; trimming works for every source.
    const pattern = `${video.source ?? 'testsrc2'}=size=${size}:rate=${video.fps},trim=duration=${duration}`;
    argv.push('-f', 'lavfi', '-i', pattern);
  }
  if (audio) {
    const beep = audio.beep ? ':beep_factor=4' : '';
    const tone = `sine=frequency=${audio.frequency ?? 440}:sample_rate=${audio.sampleRate ?? 48000}:duration=${duration}${beep}`;
    argv.push('-f', 'lavfi', '-i', tone);
  }
  if (video?.filter) argv.push('-vf', video.filter);
  if (video) argv.push(...words(video.encode));
  if (audio) argv.push(...words(audio.encode));
  argv.push(...words(output), '-f', muxer);
  return argv;
}

/** Seeded PRNG (mulberry32) so the random fixture is the same bytes on every machine. */
function seededBytes(seed, length) {
  const bytes = Buffer.alloc(length);
  let state = seed >>> 0;
  for (let index = 0; index < length; index++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    bytes[index] = ((mixed ^ (mixed >>> 14)) >>> 0) & 0xff;
  }
  return bytes;
}

const RANDOM_SEED = 0x1d5eed;
const RANDOM_LENGTH = 64 * 1024;

/**
 * Inputs that are not (valid) media, for the hostile-input tests. `contents` returns the bytes;
 * `dependsOn` names a fixture it is derived from (remade whenever that one is).
 */
const HOSTILE_FIXTURES = [
  {
    name: 'not-a-video.txt',
    hostile: 'text',
    description: 'Plain text: must be refused as not a video (415).',
    contents: () => Buffer.from('This is a plain text file, not a video.\nNothing here decodes as media.\n'),
  },
  {
    name: 'empty.mp4',
    hostile: 'empty',
    description: 'Zero bytes with a video extension.',
    contents: () => Buffer.alloc(0),
  },
  {
    name: 'random.mp4',
    hostile: 'random',
    description: `64 KiB of seeded pseudo-random bytes (mulberry32, seed 0x${RANDOM_SEED.toString(16)}) with a video extension.`,
    contents: () => seededBytes(RANDOM_SEED, RANDOM_LENGTH),
  },
  {
    name: 'truncated.mp4',
    hostile: 'truncated',
    dependsOn: 'sample.mp4',
    description:
      'The first half of sample.mp4 (moov intact, half of mdat missing): decoding must fail or stop, never hang.',
    contents: () => {
      const sample = readFileSync(path.join(FIXTURES_DIR, 'sample.mp4'));
      return sample.subarray(0, Math.floor(sample.length / 2));
    },
  },
  {
    name: 'playlist-disguised.mp4',
    hostile: 'playlist',
    description:
      'An HLS playlist named .mp4 that points at file:///etc/passwd and a loopback canary: must never be opened as HLS.',
    contents: () =>
      Buffer.from(
        [
          '#EXTM3U',
          '#EXT-X-VERSION:3',
          '#EXT-X-TARGETDURATION:10',
          '#EXT-X-MEDIA-SEQUENCE:0',
          '#EXTINF:10.0,',
          'file:///etc/passwd',
          '#EXTINF:10.0,',
          'http://127.0.0.1:1/canary',
          '#EXT-X-ENDLIST',
          '',
        ].join('\n'),
      ),
  },
];

/** The manifest entry for one media fixture: what the file is meant to be. */
function mediaManifestEntry({ name, container, duration, video, audio, traits = [], description }) {
  const rotation = video?.rotation ?? 0;
  const quarterTurn = rotation === 90 || rotation === 270;
  return {
    name,
    kind: video ? 'video' : 'audio',
    container,
    formatName: FORMAT_NAMES[container],
    videoCodec: video?.codec ?? null,
    audioCodec: audio?.codec ?? null,
    width: video ? (quarterTurn ? video.height : video.width) : null,
    height: video ? (quarterTurn ? video.width : video.height) : null,
    codedWidth: video?.width ?? null,
    codedHeight: video?.height ?? null,
    rotation: video ? rotation : null,
    frameRate: video && !video.variableFrameRate ? video.fps : null,
    duration,
    hasAudio: Boolean(audio),
    hasVideo: Boolean(video),
    traits,
    description,
  };
}

/** The manifest entry for one hostile fixture. */
function hostileManifestEntry({ name, hostile, description }) {
  return {
    name,
    kind: 'hostile',
    hostile,
    container: null,
    formatName: null,
    videoCodec: null,
    audioCodec: null,
    width: null,
    height: null,
    codedWidth: null,
    codedHeight: null,
    rotation: null,
    frameRate: null,
    duration: null,
    hasAudio: false,
    hasVideo: false,
    traits: [],
    description,
  };
}

function fail(message) {
  console.error(`make-fixtures: ${message}`);
  process.exit(1);
}

let ffmpegChecked = false;
/** Stops with the install command when ffmpeg, or an encoder a fixture needs, is missing. */
function requireFfmpeg() {
  if (ffmpegChecked) return;
  const version = spawnSync(FFMPEG, ['-hide_banner', '-version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) {
    fail(`ffmpeg not found (tried '${FFMPEG}'). Install it with:\n  ${INSTALL_HINT}\nor set FFMPEG_PATH.`);
  }
  const encoders = spawnSync(FFMPEG, ['-hide_banner', '-encoders'], { encoding: 'utf8' }).stdout ?? '';
  const missing = REQUIRED_ENCODERS.filter((encoder) => !new RegExp(`\\s${encoder}\\s`).test(encoders));
  if (missing.length > 0) {
    fail(`this ffmpeg lacks encoder(s) ${missing.join(', ')}. Debian's build has them:\n  ${INSTALL_HINT}`);
  }
  ffmpegChecked = true;
}

function runFfmpeg(argv, what) {
  const result = spawnSync(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...argv], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (result.status !== 0) {
    fail(
      `ffmpeg failed ${what} (exit ${result.status}):\n${(result.stderr ?? '').trim()}\nargv: ${argv.join(' ')}`,
    );
  }
}

/** A hidden sibling to write into before the rename; `-f` is explicit, so its extension does not matter. */
function temporaryPathFor(target, suffix = 'partial') {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${suffix}`);
}

function makeMediaFixture(fixture, target) {
  requireFfmpeg();
  const encoded = temporaryPathFor(target);
  const remuxed = temporaryPathFor(target, 'remux');
  try {
    runFfmpeg([...mediaArgv(fixture), ...BITEXACT, ...ONE_THREAD, encoded], `making ${fixture.name}`);
    if (!fixture.remux) {
      renameSync(encoded, target);
      return;
    }
    const remuxArgv = ['-i', encoded, '-map', '0', '-c', 'copy', ...words(fixture.remux), ...BITEXACT];
    runFfmpeg([...remuxArgv, '-f', fixture.muxer, remuxed], `remuxing ${fixture.name}`);
    renameSync(remuxed, target);
  } finally {
    rmSync(encoded, { force: true });
    rmSync(remuxed, { force: true });
  }
}

function makeHostileFixture(fixture, target) {
  const partial = temporaryPathFor(target);
  writeFileSync(partial, fixture.contents());
  renameSync(partial, target);
}

function formatSize(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MB` : `${(bytes / 1024).toFixed(1)} KB`;
}

/** Writes the manifest only when its content changed, so a no-op run touches nothing. */
function writeManifest() {
  const manifest = {
    generatedBy: 'scripts/make-fixtures.mjs',
    note: 'What each fixture is meant to be; test/fixtures.test.ts checks the files against it with ffprobe.',
    fixtures: [...MEDIA_FIXTURES.map(mediaManifestEntry), ...HOSTILE_FIXTURES.map(hostileManifestEntry)],
  };
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  const current = existsSync(MANIFEST_PATH) ? readFileSync(MANIFEST_PATH, 'utf8') : '';
  if (current === text) return false;
  writeFileSync(MANIFEST_PATH, text);
  return true;
}

function main() {
  const flags = new Set(process.argv.slice(2));
  for (const flag of flags) {
    if (flag !== '--force' && flag !== '--quiet') fail(`unknown option ${flag} (expected --force, --quiet)`);
  }
  const force = flags.has('--force');
  const quiet = flags.has('--quiet');
  mkdirSync(FIXTURES_DIR, { recursive: true });

  const all = [
    ...MEDIA_FIXTURES.map((fixture) => ({ fixture, make: makeMediaFixture })),
    ...HOSTILE_FIXTURES.map((fixture) => ({ fixture, make: makeHostileFixture })),
  ];
  const made = new Set();
  for (const { fixture, make } of all) {
    const target = path.join(FIXTURES_DIR, fixture.name);
    const sourceRemade = fixture.dependsOn !== undefined && made.has(fixture.dependsOn);
    if (existsSync(target) && !force && !sourceRemade) continue;
    const started = Date.now();
    make(fixture, target);
    made.add(fixture.name);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const size = formatSize(statSync(target).size);
    console.log(`made ${fixture.name.padEnd(24)} ${size.padStart(10)}  (${seconds} s)`);
  }
  if (writeManifest()) console.log('wrote fixtures/manifest.json');
  if (made.size > 0) {
    const total = all.reduce(
      (sum, { fixture }) => sum + statSync(path.join(FIXTURES_DIR, fixture.name)).size,
      0,
    );
    console.log(`made ${made.size} of ${all.length} fixtures; fixtures/ total ${formatSize(total)}`);
  } else if (!quiet) {
    console.log(`fixtures complete (${all.length} files); nothing to do (use --force to remake)`);
  }
}

main();
