#!/usr/bin/env node
/**
 * Makes the small, deterministic media the tests and the default origin use, into `fixtures/`,
 * and writes `fixtures/manifest.json` describing what each file is *meant* to be (test/fixtures.test.ts
 * checks every file against it with ffprobe, so the manifest cannot drift from the bytes).
 *
 * Usage: node scripts/make-fixtures.mjs [--force] [--quiet] [--hostile [--manifest-to <path>]]
 *   --force      regenerate every file, even those that exist
 *   --quiet      print nothing when there is nothing to do
 *   --hostile    make only the hostile MP4 corpus, into fixtures/generated/hostile/ (gitignored; tests
 *                make it on first use through test/support/hostile.ts), with its own manifest.json
 *   --manifest-to  write the corpus manifest there instead (test/support/hostile.ts renames it into place)
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

// ---------------------------------------------------------------------------------------------
// Hostile corpus (made at test time into fixtures/generated/hostile/, gitignored): small MP4s
// whose index declares absurd values, for the in-process index parser (src/media/isobmff.ts) and
// the limits. Each is a tiny ffmpeg clip, byte-patched, except the real 8K frame.
// ---------------------------------------------------------------------------------------------

const HOSTILE_CORPUS_DIR = path.join(FIXTURES_DIR, 'generated', 'hostile');

/**
 * The clip every patched file starts from: 64x64, 10 frames at 10 fps (1 s), H.264, video only,
 * every timescale 1000 (so 10 h and 4e6 s fit the 32-bit duration fields), moov at the end (so the
 * moov can grow without moving the chunk offsets that point into mdat).
 */
const TINY_CLIP_ARGV = [
  ...words('-f lavfi -i testsrc2=size=64x64:rate=10,trim=duration=1'),
  ...words('-c:v libx264 -preset ultrafast -g 10 -pix_fmt yuv420p -video_track_timescale 1000'),
  ...BITEXACT,
  ...ONE_THREAD,
  '-f',
  'mp4',
];

/** One black 7680x4320 frame: a real 8K H.264 stream, tiny on disk, 33 Mpx to decode. */
const EIGHT_K_ARGV = [
  ...words('-f lavfi -i color=c=black:size=7680x4320:rate=25 -frames:v 1'),
  ...words('-c:v libx264 -preset ultrafast -pix_fmt yuv420p'),
  ...BITEXACT,
  ...ONE_THREAD,
  '-f',
  'mp4',
];

/**
 * The boxes laid end to end in `buf[start, end)`, for patching. The product's box reader is
 * TypeScript (src/media/boxes.ts) and this script runs on plain node, so it has its own few lines;
 * the clips are ffmpeg's own output, so anything unexpected is a hard failure.
 */
function boxesIn(buf, start, end) {
  const boxes = [];
  for (let offset = start; offset < end; ) {
    let size = buf.readUInt32BE(offset);
    let header = 8;
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(offset + 8));
      header = 16;
    } else if (size === 0) size = end - offset;
    if (size < header || offset + size > end) fail(`unexpected box layout at ${offset} while patching`);
    boxes.push({
      type: buf.toString('latin1', offset + 4, offset + 8),
      offset,
      size,
      start: offset + header,
    });
    offset += size;
  }
  return boxes;
}

/** Every box reached by `types` from the top level (e.g. `['moov', 'trak', 'tkhd']`). */
function findAll(buf, types, range = { start: 0, end: buf.length }) {
  const [head, ...rest] = types;
  return boxesIn(buf, range.start, range.end)
    .filter((box) => box.type === head)
    .flatMap((box) =>
      rest.length === 0 ? [box] : findAll(buf, rest, { start: box.start, end: box.offset + box.size }),
    );
}

/** The one box at `types`; fails unless it exists and is a version-0 full box where `fullBox` says so. */
function only(buf, types, { fullBox = true } = {}) {
  const found = findAll(buf, types);
  if (found.length !== 1) fail(`expected one ${types.join('/')} in the clip, found ${found.length}`);
  if (fullBox && buf[found[0].start] !== 0) fail(`${types.join('/')} is not version 0`);
  return found[0];
}

const MVHD = ['moov', 'mvhd'];
const TKHD = ['moov', 'trak', 'tkhd'];
const ELST = ['moov', 'trak', 'edts', 'elst'];
const MDHD = ['moov', 'trak', 'mdia', 'mdhd'];
const STBL = ['moov', 'trak', 'mdia', 'minf', 'stbl'];

/**
 * Declares `seconds` everywhere a duration is written, in 32-bit fields at `timescale`: mvhd and
 * mdhd (timescale and duration), tkhd and the edit list (in the movie timescale). The samples are
 * untouched, so they still last 1 s at the clip's own timescale.
 */
function declareDuration(clip, seconds, timescale) {
  const buf = Buffer.from(clip);
  const ticks = seconds * timescale;
  if (!Number.isInteger(ticks) || ticks > 0xffffffff)
    fail(`${seconds} s at ${timescale} does not fit 32 bits`);
  for (const types of [MVHD, MDHD]) {
    const box = only(buf, types);
    buf.writeUInt32BE(timescale, box.start + 12);
    buf.writeUInt32BE(ticks, box.start + 16);
  }
  buf.writeUInt32BE(ticks, only(buf, TKHD).start + 20);
  // elst entry 0: segment duration (movie timescale), media time, rate.
  buf.writeUInt32BE(ticks, only(buf, ELST).start + 8);
  return buf;
}

/** Declares a `width`x`height` frame in tkhd (16.16 fixed point) and the avc1 sample entry (16-bit). */
function declareSize(clip, width, height) {
  const buf = Buffer.from(clip);
  const tkhd = only(buf, TKHD);
  buf.writeUInt32BE(width * 65536, tkhd.start + 76);
  buf.writeUInt32BE(height * 65536, tkhd.start + 80);
  const stsd = only(buf, [...STBL, 'stsd']);
  const entry = stsd.start + 8;
  if (buf.toString('latin1', entry + 4, entry + 8) !== 'avc1') fail('the clip is not avc1');
  buf.writeUInt16BE(width, entry + 8 + 24);
  buf.writeUInt16BE(height, entry + 8 + 26);
  return buf;
}

/** Writes a 32-bit `value` at payload offset `at` of the box at `types`. */
function patchField(clip, types, at, value) {
  const buf = Buffer.from(clip);
  buf.writeUInt32BE(value, only(buf, types).start + at);
  return buf;
}

/** Sets the 32-bit size field of the box at `types` (a box size, not a payload field). */
function patchBoxSize(clip, types, size) {
  const buf = Buffer.from(clip);
  buf.writeUInt32BE(size, only(buf, types, { fullBox: false }).offset);
  return buf;
}

/** ffprobe's view of a 1 s 64x64 clip: what the bitstream and the sample tables say. */
const TINY_VIEW = { readable: true, duration: 1, width: 64, height: 64, codec: 'h264' };
const TINY_DECLARES = { duration: 1, width: 64, height: 64 };

/**
 * The corpus. `declares` is what the index states for the limited facts (seconds, coded size):
 * the parser must report exactly that or nothing. `ffprobe` is ffprobe's view (checked by the
 * test): `readable: false` when it refuses the file. `verdict` is the proxy's answer with default
 * limits: `source_too_long`/`source_too_many_pixels` (422), `unreadable` (415) or `accepted`.
 */
const HOSTILE_CORPUS = [
  {
    name: 'duration-10h.mp4',
    description: 'mvhd, tkhd, elst and mdhd declare 10 h (36 000 s at timescale 1000); the samples last 1 s.',
    declares: { duration: 36_000, width: 64, height: 64 },
    ffprobe: { ...TINY_VIEW, duration: 36_000 },
    verdict: 'source_too_long',
    make: (clip) => declareDuration(clip, 36_000, 1000),
  },
  {
    name: 'duration-1e6-segments.mp4',
    description:
      'Declares 4 000 000 s (10^6 HLS segments of 4 s) at timescale 1000 in mvhd, tkhd, elst and mdhd.',
    declares: { duration: 4_000_000, width: 64, height: 64 },
    ffprobe: { ...TINY_VIEW, duration: 4_000_000 },
    verdict: 'source_too_long',
    make: (clip) => declareDuration(clip, 4_000_000, 1000),
  },
  {
    name: 'duration-2p32.mp4',
    description:
      'Declares 2^32-1 s at timescale 1 in mvhd, tkhd, elst and mdhd (so the 1000-tick sample table lasts 1000 s).',
    declares: { duration: 0xffffffff, width: 64, height: 64 },
    ffprobe: { ...TINY_VIEW, duration: 0xffffffff },
    verdict: 'source_too_long',
    make: (clip) => declareDuration(clip, 0xffffffff, 1),
  },
  {
    name: 'claims-8000x8000.mp4',
    description:
      'tkhd and the avc1 sample entry declare 8000x8000; the H.264 stream itself is 64x64 (ffprobe reports that).',
    declares: { duration: 1, width: 8000, height: 8000 },
    ffprobe: TINY_VIEW,
    verdict: 'source_too_many_pixels',
    make: (clip) => declareSize(clip, 8000, 8000),
  },
  {
    name: 'claims-65535x65535.mp4',
    description: 'tkhd and the avc1 sample entry declare 65535x65535, the largest the 16-bit fields hold.',
    declares: { duration: 1, width: 65_535, height: 65_535 },
    ffprobe: TINY_VIEW,
    verdict: 'source_too_many_pixels',
    make: (clip) => declareSize(clip, 65_535, 65_535),
  },
  {
    name: 'trak-size-past-eof.mp4',
    description: 'The trak box claims 0x7ffffff0 bytes, far past the end of the moov and the file.',
    declares: TINY_DECLARES,
    ffprobe: TINY_VIEW,
    verdict: 'accepted',
    make: (clip) => patchBoxSize(clip, ['moov', 'trak'], 0x7ffffff0),
  },
  {
    name: 'mdat-size-past-eof.mp4',
    description: 'The top-level mdat (before the moov) claims 0xfffffff0 bytes: the moov cannot be reached.',
    declares: TINY_DECLARES,
    ffprobe: { readable: false },
    verdict: 'unreadable',
    make: (clip) => patchBoxSize(clip, ['mdat'], 0xfffffff0),
  },
  {
    name: 'largesize-2p63-mdat.mp4',
    description:
      'The free+mdat headers become one 64-bit mdat header of 2^63 bytes (size 1, largesize 2^63): the moov cannot be reached.',
    declares: TINY_DECLARES,
    ffprobe: { readable: false },
    verdict: 'unreadable',
    make: (clip) => {
      const buf = Buffer.from(clip);
      const free = only(buf, ['free'], { fullBox: false });
      if (free.size !== 8 || buf.toString('latin1', free.offset + 12, free.offset + 16) !== 'mdat') {
        fail('the clip does not start its mdat with an 8-byte free box');
      }
      buf.writeUInt32BE(1, free.offset);
      buf.write('mdat', free.offset + 4, 'latin1');
      buf.writeBigUInt64BE(2n ** 63n, free.offset + 8);
      return buf;
    },
  },
  {
    name: 'largesize-2p63-in-moov.mp4',
    description:
      'A last moov child with a 64-bit size of 2^63 (free, size 1, largesize 2^63); everything before it is intact.',
    declares: TINY_DECLARES,
    ffprobe: TINY_VIEW,
    verdict: 'accepted',
    make: (clip) => {
      const moov = only(clip, ['moov'], { fullBox: false });
      if (moov.offset + moov.size !== clip.length) fail('the clip does not end with its moov');
      const extra = Buffer.alloc(16);
      extra.writeUInt32BE(1, 0);
      extra.write('free', 4, 'latin1');
      extra.writeBigUInt64BE(2n ** 63n, 8);
      const buf = Buffer.concat([clip, extra]);
      buf.writeUInt32BE(moov.size + extra.length, moov.offset);
      return buf;
    },
  },
  {
    name: 'stsz-count-2p32.mp4',
    description: 'stsz declares 2^32-1 sample sizes in a box that holds 10.',
    declares: TINY_DECLARES,
    ffprobe: { readable: false },
    verdict: 'unreadable',
    make: (clip) => patchField(clip, [...STBL, 'stsz'], 8, 0xffffffff),
  },
  {
    name: 'stts-count-2p32.mp4',
    description: 'stts declares 2^32-1 entries in a box that holds 1.',
    declares: TINY_DECLARES,
    ffprobe: { readable: false },
    verdict: 'unreadable',
    make: (clip) => patchField(clip, [...STBL, 'stts'], 4, 0xffffffff),
  },
  {
    name: 'timescale-0.mp4',
    description: 'mvhd and mdhd declare timescale 0 (every duration infinite); ffmpeg assumes 1, so 1000 s.',
    declares: TINY_DECLARES,
    ffprobe: { ...TINY_VIEW, duration: 1000 },
    verdict: 'accepted',
    make: (clip) => patchField(patchField(clip, MVHD, 12, 0), MDHD, 12, 0),
  },
  {
    name: 'real-8k-1frame.mp4',
    description: 'A real 7680x4320 H.264 stream: one black frame (ultrafast), so tiny on disk.',
    declares: { duration: 0.04, width: 7680, height: 4320 },
    ffprobe: { readable: true, duration: 0.04, width: 7680, height: 4320, codec: 'h264' },
    verdict: 'source_too_many_pixels',
    argv: EIGHT_K_ARGV,
  },
];

/**
 * Makes the hostile corpus into fixtures/generated/hostile/ and writes its manifest (to
 * `manifestPath`, default `manifest.json` there). Existing files are kept unless `force`.
 */
function makeHostileCorpus({ force, quiet, manifestPath = path.join(HOSTILE_CORPUS_DIR, 'manifest.json') }) {
  requireFfmpeg();
  mkdirSync(HOSTILE_CORPUS_DIR, { recursive: true });
  let clip;
  const tinyClip = () => {
    if (!clip) {
      const file = temporaryPathFor(path.join(HOSTILE_CORPUS_DIR, 'tiny-clip.mp4'));
      try {
        runFfmpeg([...TINY_CLIP_ARGV, file], 'making the hostile corpus clip');
        clip = readFileSync(file);
      } finally {
        rmSync(file, { force: true });
      }
    }
    return clip;
  };
  let made = 0;
  for (const entry of HOSTILE_CORPUS) {
    const target = path.join(HOSTILE_CORPUS_DIR, entry.name);
    if (existsSync(target) && !force) continue;
    const partial = temporaryPathFor(target);
    try {
      if (entry.argv) runFfmpeg([...entry.argv, partial], `making ${entry.name}`);
      else writeFileSync(partial, entry.make(tinyClip()));
      renameSync(partial, target);
    } finally {
      rmSync(partial, { force: true });
    }
    made++;
    if (!quiet)
      console.log(`made hostile/${entry.name.padEnd(28)} ${formatSize(statSync(target).size).padStart(10)}`);
  }
  const manifest = {
    generatedBy: 'scripts/make-fixtures.mjs --hostile',
    note: 'Hostile MP4s for the index parser; test/hardening/hostile-corpus.test.ts checks each against ffprobe.',
    fixtures: HOSTILE_CORPUS.map(({ name, description, declares, ffprobe, verdict }) => ({
      name,
      description,
      declares,
      ffprobe,
      verdict,
    })),
  };
  const partial = temporaryPathFor(manifestPath);
  writeFileSync(partial, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(partial, manifestPath);
  if (!quiet || made > 0)
    console.log(`hostile corpus: made ${made} of ${HOSTILE_CORPUS.length} files in ${HOSTILE_CORPUS_DIR}`);
}

/** Parses argv: `--force`, `--quiet`, `--hostile`, `--manifest-to <path>` (only with `--hostile`). */
function parseArgs(argv) {
  const options = { force: false, quiet: false, hostile: false, manifestPath: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--force') options.force = true;
    else if (flag === '--quiet') options.quiet = true;
    else if (flag === '--hostile') options.hostile = true;
    else if (flag === '--manifest-to' && argv[i + 1]) options.manifestPath = path.resolve(argv[++i]);
    else fail(`unknown option ${flag} (expected --force, --quiet, --hostile, --manifest-to <path>)`);
  }
  if (options.manifestPath && !options.hostile) fail('--manifest-to only goes with --hostile');
  return options;
}

function main() {
  const { force, quiet, hostile, manifestPath } = parseArgs(process.argv.slice(2));
  if (hostile) {
    makeHostileCorpus({ force, quiet, manifestPath });
    return;
  }
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
