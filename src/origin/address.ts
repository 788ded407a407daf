import { isIPv4, isIPv6 } from 'node:net';

/** An IPv4 block as [network as a 32-bit number, prefix length]. */
type V4Block = readonly [network: number, prefix: number];

function v4(text: string, prefix: number): V4Block {
  return [ipv4ToNumber(text), prefix];
}

/**
 * IPv4 blocks a proxy must never connect to on a user's behalf: this-network, private,
 * loopback, link-local (cloud metadata lives at 169.254.169.254), CGNAT, IETF/test/benchmark
 * blocks, 6to4 relay anycast, multicast and the reserved top of the space.
 */
const FORBIDDEN_V4: readonly V4Block[] = [
  v4('0.0.0.0', 8),
  v4('10.0.0.0', 8),
  v4('100.64.0.0', 10),
  v4('127.0.0.0', 8),
  v4('169.254.0.0', 16),
  v4('172.16.0.0', 12),
  v4('192.0.0.0', 24),
  v4('192.0.2.0', 24),
  v4('192.88.99.0', 24),
  v4('192.168.0.0', 16),
  v4('198.18.0.0', 15),
  v4('198.51.100.0', 24),
  v4('203.0.113.0', 24),
  v4('224.0.0.0', 4),
  v4('240.0.0.0', 4),
];

function ipv4ToNumber(text: string): number {
  return text.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function inV4Block(address: number, [network, prefix]: V4Block): boolean {
  const size = 2 ** (32 - prefix);
  return Math.floor(address / size) === Math.floor(network / size);
}

function isForbiddenV4Number(address: number): boolean {
  return FORBIDDEN_V4.some((block) => inV4Block(address, block));
}

/** Eight 16-bit groups of a valid IPv6 literal (zone id already removed). */
function ipv6Groups(text: string): number[] {
  let body = text;
  const tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  const maybeV4 = body.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    const n = ipv4ToNumber(maybeV4);
    tail.push(Math.floor(n / 65536), n % 65536);
    body = `${body.slice(0, lastColon + 1)}0`;
    // The placeholder group is replaced by the two groups of the dotted quad below.
  }
  const [head = '', rest] = body.split('::') as [string, string | undefined];
  const parse = (part: string) =>
    part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16));
  let groups: number[];
  if (rest === undefined) {
    groups = parse(head);
  } else {
    const left = parse(head);
    const right = parse(rest);
    const missing = 8 - left.length - right.length - (tail.length > 0 ? 1 : 0);
    groups = [...left, ...new Array<number>(Math.max(missing, 0)).fill(0), ...right];
  }
  if (tail.length > 0) groups = [...groups.slice(0, -1), ...tail];
  return groups;
}

function groupsToV4(high: number, low: number): number {
  return high * 65536 + low;
}

/**
 * Whether an IPv6 address (as eight groups) is forbidden. Forms that embed an IPv4 address
 * (mapped, compatible, translated, NAT64, 6to4) are judged by that IPv4 address, so
 * `::ffff:127.0.0.1` is as forbidden as `127.0.0.1`. Outside those, only global unicast
 * (2000::/3) minus documentation, benchmarking and Teredo is allowed: failing closed keeps
 * future special-purpose blocks out without a code change.
 */
function isForbiddenV6Groups(g: number[]): boolean {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embedded = groupsToV4(g6, g7);
  const firstFiveZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  // ::/96 (IPv4-compatible, also covers :: and ::1) and ::ffff:0:0/96 (IPv4-mapped).
  if (firstFiveZero && (g5 === 0 || g5 === 0xffff)) return isForbiddenV4Number(embedded);
  // ::ffff:0:a.b.c.d (IPv4-translated, RFC 2765).
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0xffff && g5 === 0) {
    return isForbiddenV4Number(embedded);
  }
  // 64:ff9b::/96 (well-known NAT64 prefix).
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return isForbiddenV4Number(embedded);
  }
  // 2002::/16 (6to4) carries the IPv4 address in groups 1 and 2.
  if (g0 === 0x2002) return isForbiddenV4Number(groupsToV4(g1, g2));
  if ((g0 & 0xe000) !== 0x2000) return true;
  if (g0 === 0x2001 && g1 === 0) return true; // Teredo: the tunnel endpoint is not the target.
  if (g0 === 0x2001 && g1 === 0x0db8) return true; // documentation
  if (g0 === 0x2001 && g1 === 0x0002 && g2 === 0) return true; // benchmarking
  if (g0 === 0x3fff && (g1 & 0xf000) === 0) return true; // documentation (RFC 9637)
  return false;
}

/**
 * Whether the proxy must refuse to connect to `ip` (SSRF guard, design §6): loopback,
 * unspecified, private, link-local, CGNAT, multicast, reserved and documentation blocks, plus
 * IPv6 forms that embed such an IPv4 address. Anything that is not a literal IPv4 or IPv6
 * address (including `2130706433`-style integers) is refused, so callers fail closed.
 */
export function isForbiddenAddress(ip: string): boolean {
  let text = ip.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (isIPv4(text)) return isForbiddenV4Number(ipv4ToNumber(text));
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (!isIPv6(text)) return true;
  return isForbiddenV6Groups(ipv6Groups(text.toLowerCase()));
}
