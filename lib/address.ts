// The one rule for IP addresses that come from contacts (XMPP intake, the store, dial time) and for the
// node's own addresses: parse strictly, put into one canonical spelling, say what kind of address it is,
// and decide whether it may be stored and dialled. Hand-written prefix checks missed spellings
// (`::ffff:0.0.0.0` dialled this machine, issue 12); ipaddr.js knows the special ranges.
//
// Decisions (README "Contact addresses"):
// - Only Node's strict IPv4/IPv6 syntax (net.isIP): no `127.1`, `0x7f.0.0.1`, `2130706433` or `01.2.3.4`,
//   which ipaddr.js alone would accept and which other parsers read differently.
// - IPv4-mapped IPv6 (::ffff:a.b.c.d in any spelling) is the IPv4 address: unmapped, judged and stored as IPv4.
// - Refused: unspecified (0.0.0.0/8, ::: connecting to it reaches this machine), loopback (unless
//   BITWEEN_ALLOW_LOOPBACK), link-local, multicast, broadcast, 240.0.0.0/4, the discard prefix 100::/64, the
//   deprecated IPv4-compatible ::a.b.c.d, forms that embed a non-public IPv4 (6to4, Teredo, NAT64,
//   IPv4-translated), and any address written with a zone index (%eth0 names an interface of the sender).
// - Allowed: private LAN ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, fec0::/10: a friend on
//   the same LAN is normal) and everything else unicast, documentation ranges (192.0.2/24, 198.51.100/24,
//   203.0.113/24, 2001:db8::/32) included: nothing answers there, so dialling one harms nobody.
// - Canonical spelling: dotted quad for IPv4, RFC 5952 for IPv6 (ipaddr.js toString), which is what
//   Postgres `host(inet)` prints for every address this rule accepts, so a stored address reads back the same.
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export type AddressKind =
  | 'unspecified'
  | 'loopback'
  | 'linkLocal'
  | 'multicast'
  | 'broadcast'
  /** Not a host anyone can have or should be sent to (see `note`). */
  | 'reserved'
  | 'private'
  | 'public';

export interface ClassifiedAddress {
  /** The address in canonical spelling, without a zone index; IPv4 for IPv4-mapped IPv6. */
  canonical: string;
  /** 4 for IPv4 and IPv4-mapped IPv6. */
  family: 4 | 6;
  kind: AddressKind;
  /** The zone index the text carried (`eth0` of `fe80::1%eth0`). */
  zone?: string;
  /** Why a `reserved` address is one. */
  note?: string;
}

export interface AddressPolicy {
  /** BITWEEN_ALLOW_LOOPBACK: loopback addresses are accepted (tests, single-machine setups). Unspecified never. */
  allowLoopback: boolean;
}

/** Long enough for any IPv6 address with a zone index of an interface name. */
const MAX_LENGTH = 64;
// ipaddr.js reads `::a.b.c.d` as IPv4-mapped; the kernel and Postgres read it as ::a.b:c.d (IPv4-compatible).
const IPV4_COMPATIBLE_DOTTED = /^::(\d+\.\d+\.\d+\.\d+)$/;

function classifyIPv4(a: ipaddr.IPv4): AddressKind {
  switch (a.range()) {
    case 'unspecified':
    case 'broadcast':
    case 'multicast':
    case 'linkLocal':
    case 'loopback':
    case 'private':
      return a.range() as AddressKind;
    case 'carrierGradeNat':
      return 'private';
    case 'reserved':
      // 240.0.0.0/4 ("future use"); the rest of ipaddr.js's 'reserved' are documentation and benchmark ranges.
      return a.octets[0] >= 240 ? 'reserved' : 'public';
    default:
      return 'public';
  }
}

function ipv4From(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** The IPv4 addresses an IPv6 transition form sends to (6to4, Teredo, NAT64, IPv4-translated). */
function embeddedIPv4(a: ipaddr.IPv6, range: string): ipaddr.IPv4[] {
  const p = a.parts;
  switch (range) {
    case '6to4':
      return [ipv4From(p[1], p[2])];
    case 'teredo':
      // Server, then the client, whose address is stored inverted (RFC 4380 §4).
      return [ipv4From(p[2], p[3]), ipv4From(~p[6] & 0xffff, ~p[7] & 0xffff)];
    case 'rfc6145':
      return [ipv4From(p[6], p[7])];
    case 'rfc6052':
      // Only the well-known /96 prefix puts the IPv4 address in the last 32 bits.
      return p[2] === 0 ? [ipv4From(p[6], p[7])] : [];
    default:
      return [];
  }
}

function classifyIPv6(a: ipaddr.IPv6): Pick<ClassifiedAddress, 'kind' | 'note'> {
  const range = a.range();
  switch (range) {
    case 'unspecified':
    case 'loopback':
    case 'linkLocal':
    case 'multicast':
      return { kind: range };
    case 'uniqueLocal':
    case 'deprecatedSiteLocal' as string:
      return { kind: 'private' };
    case 'discard' as string:
      return { kind: 'reserved', note: 'discard prefix 100::/64' };
  }
  if (a.parts.slice(0, 6).every((x) => x === 0)) {
    // ::/96 minus :: and ::1: IPv4-compatible, deprecated (RFC 4291 §2.5.5.1); no stack sends it to the IPv4 host.
    return { kind: 'reserved', note: `deprecated IPv4-compatible form of ${ipv4From(a.parts[6], a.parts[7]).toString()}` };
  }
  for (const v4 of embeddedIPv4(a, range)) {
    const kind = classifyIPv4(v4);
    if (kind !== 'public' && kind !== 'private') return { kind: 'reserved', note: `${range} form embedding ${v4.toString()}, ${kind}` };
  }
  return { kind: 'public' };
}

/** What an address is and its canonical spelling; undefined for anything that is not an IP address. */
export function classifyAddress(text: unknown): ClassifiedAddress | undefined {
  if (typeof text !== 'string' || text.length > MAX_LENGTH || isIP(text) === 0) return undefined;
  const percent = text.indexOf('%');
  const zone = percent >= 0 ? text.slice(percent + 1) : undefined;
  let bare = percent >= 0 ? text.slice(0, percent) : text;
  const compatible = IPV4_COMPATIBLE_DOTTED.exec(bare);
  if (compatible) {
    const [w, x, y, z] = ipaddr.IPv4.parse(compatible[1]).octets;
    bare = `::${((w << 8) | x).toString(16)}:${((y << 8) | z).toString(16)}`;
  }
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(bare);
  } catch {
    return undefined;
  }
  const withZone = (c: ClassifiedAddress): ClassifiedAddress => (zone === undefined ? c : { ...c, zone });
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  if (parsed.kind() === 'ipv4') {
    return withZone({ canonical: parsed.toString(), family: 4, kind: classifyIPv4(parsed as ipaddr.IPv4) });
  }
  return withZone({ canonical: parsed.toString(), family: 6, ...classifyIPv6(parsed as ipaddr.IPv6) });
}

const WHY: Record<AddressKind, string> = {
  unspecified: 'unspecified (0.0.0.0/8 or ::): connecting to it reaches this machine',
  loopback: 'loopback: it reaches this machine (BITWEEN_ALLOW_LOOPBACK=true accepts it, for tests and single-machine setups only)',
  linkLocal: 'link-local: unusable across a router',
  multicast: 'multicast, not one host',
  broadcast: 'broadcast, not one host',
  reserved: 'reserved',
  private: 'private',
  public: 'public',
};

function quote(text: unknown): string {
  if (typeof text !== 'string') return text === undefined ? 'missing' : typeof text;
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/**
 * The rule: an address a contact gives may be stored and dialled when it is unicast and reaches another
 * machine. Returns its canonical spelling, or the one-line reason it is refused.
 */
export function checkAddress(text: unknown, policy: AddressPolicy): { canonical: string } | { refused: string } {
  const a = classifyAddress(text);
  if (a === undefined) return { refused: `address ${quote(text)} is not an IPv4 or IPv6 address` };
  const named = a.canonical === text ? `address ${a.canonical}` : `address ${quote(text)} (${a.canonical})`;
  if (a.zone !== undefined) return { refused: `${named} has a zone index (%${a.zone}), which names an interface of the sender's machine` };
  if (a.kind === 'public' || a.kind === 'private' || (a.kind === 'loopback' && policy.allowLoopback)) return { canonical: a.canonical };
  return { refused: `${named} is ${WHY[a.kind]}${a.note ? ` (${a.note})` : ''}` };
}

/** The canonical spelling when `checkAddress` accepts the address, else undefined. */
export function dialableAddress(text: unknown, policy: AddressPolicy): string | undefined {
  const result = checkAddress(text, policy);
  return 'canonical' in result ? result.canonical : undefined;
}
