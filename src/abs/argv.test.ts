import { describe, expect, test } from 'vitest';
import { mediaInfo } from '../../test/support/media-info.js';
import type { SourceInput } from '../media/argv.js';
import { inputArgs } from '../media/argv.js';
import type { MediaInfo } from '../media/types.js';
import { ABS_X264_PRESET, absAudioSegmentArgs, absSegmentArgs, absVideoSegmentArgs } from './argv.js';
import { planAbs, segmentWindow } from './plan.js';

const input: SourceInput = { url: 'http://127.0.0.1:9/source', demuxer: 'mov' };
const info: MediaInfo = mediaInfo({ duration: 14.014, fps: 30000 / 1001, formatName: 'mov' });

function argAfter(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

describe('video segment argv', () => {
  const plan = planAbs({ sr: [360], so: { kind: 'seconds', value: 1 } }, info, 4);

  test('reads through inputArgs, seeks to the segment, encodes exactly its frames at its timestamps', () => {
    const [step, ...rest] = absVideoSegmentArgs(input, plan, 360, 2).steps;
    expect(rest).toEqual([]);
    const args = step!;
    // The shared input options (protocol whitelist, forced demuxer, reconnect) with the seek.
    const expectedInput = inputArgs(input, 9.008);
    expect(expectedInput).toContain('-protocol_whitelist');
    expect(args.slice(args.indexOf('-protocol_whitelist'), args.indexOf('-i') + 2)).toEqual(expectedInput);
    expect(argAfter(args, '-ss')).toBe('9.008');
    expect(argAfter(args, '-frames:v')).toBe(String(segmentWindow(plan, 360, 2).count));
    expect(argAfter(args, '-output_ts_offset')).toBe('8.008000');
    expect(argAfter(args, '-video_track_timescale')).toBe('90000');
    expect(argAfter(args, '-preset')).toBe(ABS_X264_PRESET);
    expect(argAfter(args, '-level:v')).toBe('3.0');
    expect(argAfter(args, '-maxrate')).toBe('400000');
    expect(argAfter(args, '-bf')).toBe('0');
    expect(argAfter(args, '-g')).toBe('120');
    expect(argAfter(args, '-vf')).toBe(
      'fps=30000/1001:start_time=0,tpad=stop=-1:stop_mode=clone,scale=640:360:flags=bicubic,setsar=1,format=yuv420p',
    );
    expect(args.at(-1)).toBe('pipe:1');
  });

  test('rt rotates before scaling', () => {
    const turned = planAbs({ sr: [360], rt: 270 }, info, 4);
    expect(argAfter(absVideoSegmentArgs(input, turned, 360, 0).steps[0]!, '-vf')).toContain(
      'transpose=cclock,scale=202:360',
    );
  });
});

describe('audio segment argv', () => {
  const plan = planAbs({ sr: [360] }, info, 4);

  test('segment 0 has no pre-roll: skips only the priming frame', () => {
    const [encode, remux] = absAudioSegmentArgs(input, plan, 0).steps;
    expect(encode).not.toContain('-ss');
    expect(argAfter(remux!, '-ss')).toBe((512 / 48_000).toFixed(6));
    expect(argAfter(remux!, '-frames:a')).toBe(String(plan.audio!.boundaries[1]! / 1024));
    expect(argAfter(remux!, '-output_ts_offset')).toBe((-512 / 48_000).toFixed(6));
  });

  test('later segments pre-roll two frames, seek to a whole millisecond and trim the rest sample-exactly', () => {
    const steps = absSegmentArgs(input, plan, 0, 1).steps;
    expect(steps).toHaveLength(2);
    const first = plan.audio!.boundaries[1]!;
    const exact = (first - 2048) / 48_000;
    const seek = Number(argAfter(steps[0]!, '-ss'));
    expect(seek).toBe(Math.floor(exact * 1000) / 1000);
    const lead = Math.round((exact - seek) * 48_000);
    expect(argAfter(steps[0]!, '-af')).toContain(`atrim=start_sample=${lead},`);
    expect(argAfter(steps[0]!, '-af')).toContain(
      `atrim=end_sample=${2048 + (plan.audio!.boundaries[2]! - first) + 1024}`,
    );
    expect(argAfter(steps[1]!, '-ss')).toBe(((3 * 1024 - 512) / 48_000).toFixed(6));
    expect(argAfter(steps[1]!, '-output_ts_offset')).toBe(((first - 512) / 48_000).toFixed(6));
    expect(argAfter(steps[1]!, '-i')).toBe('pipe:0');
  });
});
