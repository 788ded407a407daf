/**
 * Readers of HLS playlists and DASH manifests: every URL a document references, resolved against
 * the document's own URL. They sit beside the writers (`manifests.ts`) they must agree with, and
 * `read.test.ts` round-trips the writers' output through them. They also read the common shapes
 * other packagers write (the warm-up CLI accepts any manifest URL), but are not a full model of
 * either format.
 */

/** Most references one document may yield, so a hostile or looping manifest cannot run forever. */
export const MAX_MANIFEST_REFERENCES = 100_000;

/**
 * Which manifest format a response is, from its `Content-Type` or else its URL's extension:
 * `hls` for `.m3u8` / `*mpegurl`, `dash` for `.mpd` / `application/dash+xml`.
 */
export function manifestKind(
  url: string,
  contentType: string | null | undefined,
): 'hls' | 'dash' | undefined {
  const type = (contentType ?? '').toLowerCase();
  const pathname = new URL(url).pathname.toLowerCase();
  if (type.includes('mpegurl') || pathname.endsWith('.m3u8')) return 'hls';
  if (type.includes('dash+xml') || pathname.endsWith('.mpd')) return 'dash';
  return undefined;
}

/**
 * Every URI an HLS playlist references (variant and rendition playlists, init maps, segments),
 * absolute, in document order. Keys (`#EXT-X-KEY`, `#EXT-X-SESSION-KEY`) are left out: they are
 * not outputs of this proxy and may be secret.
 */
export function hlsReferences(playlist: string, playlistUrl: string): string[] {
  const out: string[] = [];
  for (const rawLine of playlist.split(/\r?\n/)) {
    if (out.length >= MAX_MANIFEST_REFERENCES) break;
    const line = rawLine.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      if (line.startsWith('#EXT-X-KEY') || line.startsWith('#EXT-X-SESSION-KEY')) continue;
      for (const match of line.matchAll(/URI="([^"]*)"/g))
        out.push(new URL(match[1]!, playlistUrl).toString());
      continue;
    }
    out.push(new URL(line, playlistUrl).toString());
  }
  return out;
}

function xmlUnescape(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCodePoint(Number.parseInt(code, 16)))
    .replace(/&amp;/g, '&');
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of tag.matchAll(/([A-Za-z_:][\w:.-]*)\s*=\s*"([^"]*)"/g))
    out[match[1]!] = xmlUnescape(match[2]!);
  return out;
}

/** Seconds of an ISO 8601 duration such as `PT1M2.5S` (0 when it does not parse). */
function isoSeconds(text: string | undefined): number {
  const match =
    /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(
      text ?? '',
    );
  if (!match) return 0;
  const [, d, h, m, s] = match.map((part) => Number(part ?? 0));
  return d! * 86400 + h! * 3600 + m! * 60 + s!;
}

/** `$RepresentationID$`, `$Number%05d$`, `$Time$`, `$Bandwidth$` and `$$`, per ISO/IEC 23009-1. */
function fillTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\$(\w*)(?:%0(\d+)d)?\$/g, (whole, name: string, width: string | undefined) => {
    if (name === '') return '$';
    const value = values[name];
    if (value === undefined) return whole;
    return width ? String(value).padStart(Number(width), '0') : String(value);
  });
}

/** Start times of the segments a `<SegmentTimeline>` lists. */
function timelineTimes(timeline: string): number[] {
  const times: number[] = [];
  let time = 0;
  for (const match of timeline.matchAll(/<S\b([^>]*)\/?>/g)) {
    const s = attributes(match[1]!);
    if (s.t !== undefined) time = Number(s.t);
    const duration = Number(s.d);
    const repeat = Number(s.r ?? 0);
    if (!Number.isFinite(duration) || duration <= 0) break;
    for (let i = 0; i <= repeat && times.length < MAX_MANIFEST_REFERENCES; i++) {
      times.push(time);
      time += duration;
    }
  }
  return times;
}

const SEGMENT_TEMPLATE = /<SegmentTemplate\b([^>]*?)(?:\/>|>([\s\S]*?)<\/SegmentTemplate>)/;

/**
 * Every init and media segment a static DASH manifest references, absolute, representation by
 * representation (init first): `SegmentTemplate` with a `SegmentTimeline` or a fixed `duration`
 * (on the AdaptationSet or the Representation), and `SegmentList` / `Initialization` entries.
 */
export function dashReferences(manifest: string, manifestUrl: string): string[] {
  const out: string[] = [];
  const push = (ref: string) => {
    if (out.length < MAX_MANIFEST_REFERENCES) out.push(new URL(ref, manifestUrl).toString());
  };
  const mpd = attributes(/<MPD\b([^>]*)>/.exec(manifest)?.[1] ?? '');
  const total = isoSeconds(mpd.mediaPresentationDuration);
  for (const set of manifest.matchAll(/<AdaptationSet\b([^>]*)>([\s\S]*?)<\/AdaptationSet>/g)) {
    const body = set[2]!;
    // The set's own template is the one outside every Representation.
    const setTemplate = SEGMENT_TEMPLATE.exec(
      body.replace(/<Representation\b[\s\S]*?(?:\/>|<\/Representation>)/g, ''),
    );
    for (const rep of body.matchAll(/<Representation\b([^>]*?)(?:\/>|>([\s\S]*?)<\/Representation>)/g)) {
      const repAttributes = attributes(rep[1]!);
      const repBody = rep[2] ?? '';
      const template = SEGMENT_TEMPLATE.exec(repBody) ?? setTemplate;
      const values = { RepresentationID: repAttributes.id ?? '', Bandwidth: repAttributes.bandwidth ?? '' };
      for (const segment of repBody.matchAll(/<(?:Initialization|SegmentURL)\b([^>]*)\/?>/g)) {
        const a = attributes(segment[1]!);
        const ref = a.sourceURL ?? a.media;
        if (ref) push(ref);
      }
      if (!template) continue;
      const t = attributes(template[1]!);
      if (t.initialization) push(fillTemplate(t.initialization, values));
      const media = t.media;
      if (!media) continue;
      const startNumber = Number(t.startNumber ?? 1);
      const times = template[2] ? timelineTimes(template[2]) : [];
      if (times.length > 0) {
        times.forEach((time, i) => {
          push(fillTemplate(media, { ...values, Number: startNumber + i, Time: time }));
        });
      } else if (t.duration && total > 0) {
        const count = Math.min(
          MAX_MANIFEST_REFERENCES,
          Math.ceil((total * Number(t.timescale ?? 1)) / Number(t.duration) - 1e-9),
        );
        for (let i = 0; i < count; i++) push(fillTemplate(media, { ...values, Number: startNumber + i }));
      }
    }
  }
  return out;
}
