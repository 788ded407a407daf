import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { ffprobe } from '../../test/support/ffprobe.js';
import { FIXTURES_DIR } from '../../test/support/fixtures.js';
import { ProxyError } from '../errors.js';
import { assertNotTruncated, declaredSampleBytes, type ProbeJson, parseProbeOutput } from './probe.js';

async function probe(name: string): Promise<{ json: ProbeJson; size: number }> {
  const json = await ffprobe<ProbeJson>(path.join(FIXTURES_DIR, name));
  return { json, size: Number(json.format?.size) };
}

const MOV = 'mov,mp4,m4a,3gp,3g2,mj2';

describe('parseProbeOutput', () => {
  test('reads display size after rotation, frame rate and stream count', () => {
    const info = parseProbeOutput(
      {
        format: { format_name: MOV, duration: '2.5', bit_rate: '1000' },
        streams: [
          {
            codec_type: 'video',
            codec_name: 'h264',
            width: 1920,
            height: 1080,
            avg_frame_rate: '30000/1001',
            side_data_list: [{ side_data_type: 'Display Matrix', rotation: -90 }],
          },
          { codec_type: 'audio', codec_name: 'aac', sample_rate: '48000', channels: 2 },
          { codec_type: 'data' },
        ],
      },
      10_000,
    );
    expect(info.video).toMatchObject({
      width: 1080,
      height: 1920,
      codedWidth: 1920,
      codedHeight: 1080,
      rotation: 90,
    });
    expect(info.video?.frameRate).toBeCloseTo(29.97, 2);
    expect(info.audio).toMatchObject({ codec: 'aac', sampleRate: 48000, channels: 2 });
    expect(info.streamCount).toBe(3);
    expect(info.duration).toBe(2.5);
  });

  test('a cover picture is not the video stream', () => {
    const info = parseProbeOutput(
      {
        format: { format_name: MOV },
        streams: [
          {
            codec_type: 'video',
            codec_name: 'mjpeg',
            width: 600,
            height: 600,
            disposition: { attached_pic: 1 },
          },
        ],
      },
      100,
    );
    expect(info.video).toBeUndefined();
  });

  test('a stream whose dimensions ffprobe refused (width 0) is not a video', () => {
    const info = parseProbeOutput(
      {
        format: { format_name: MOV },
        streams: [{ codec_type: 'video', codec_name: 'rawvideo', width: 0, height: 0 }],
      },
      100,
    );
    expect(info.video).toBeUndefined();
  });
});

describe('truncated ISO BMFF sources', () => {
  test('the real truncated fixture is refused with 422 naming both sizes', async () => {
    const { json, size } = await probe('truncated.mp4');
    const declared = declaredSampleBytes(json)!;
    expect(declared).toBeGreaterThan(size * 1.5);
    let caught: unknown;
    try {
      parseProbeOutput(json, size);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ProxyError);
    expect((caught as ProxyError).status).toBe(422);
    expect((caught as ProxyError).code).toBe('truncated_source');
    expect((caught as ProxyError).message).toContain(String(size));
  });

  test.each([
    'sample.mp4',
    'moov-at-end.mp4',
    'h263-aac.3gp',
    'audio-only.m4a',
    'vfr.mp4',
    'rotated-phone.mp4',
    'h264-aac.mov',
  ])('complete file %s passes, and its index accounts for no more than the file', async (name) => {
    const { json, size } = await probe(name);
    const declared = declaredSampleBytes(json)!;
    expect(declared).toBeGreaterThan(size * 0.8);
    expect(declared).toBeLessThanOrEqual(size);
    expect(() => parseProbeOutput(json, size)).not.toThrow();
  });

  test('containers whose bit rates are estimates are never judged', () => {
    const json: ProbeJson = {
      format: { format_name: 'matroska,webm' },
      streams: [{ codec_type: 'video', bit_rate: '100000000', duration: '100' }],
    };
    expect(declaredSampleBytes(json)).toBeUndefined();
    expect(() => assertNotTruncated(json, 10)).not.toThrow();
  });

  test('the tolerance absorbs rounding but not a missing tail', () => {
    const json = (bytes: number): ProbeJson => ({
      format: { format_name: MOV },
      streams: [{ codec_type: 'video', bit_rate: String(bytes * 8), duration: '1' }],
    });
    expect(() => assertNotTruncated(json(1_000_000), 1_000_000)).not.toThrow();
    expect(() => assertNotTruncated(json(1_040_000), 1_000_000)).not.toThrow();
    expect(() => assertNotTruncated(json(1_200_000), 1_000_000)).toThrow(/truncated/);
  });
});
