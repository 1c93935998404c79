// The thesis's PEP payload (INTERFACE.md §5): building it, and parsing contacts' items, which are untrusted.
// Every field is checked here; what fails is dropped and counted, never stored, never thrown.
//
// Large lists: Prosody closes a session that sends a stanza over 256 KiB (c2s_stanza_size_limit), and one
// <share_item> is ~100-150 bytes. A resource whose list does not fit inline is "paged": its <resource> element
// carries pages='N' version='V' and only a preview of its shares; the full list lives in N page nodes
// (pageNode(resource, i), one item each) that a receiver fetches. See README "XMPP wire format".
import { createHash } from 'node:crypto';
import { xml, type Element } from '@xmpp/client';
import { checkAddress, type AddressPolicy } from '../../lib/address.js';

export const NS_SHARES = 'https://xmpp.kwoh.de/protocol/shares';
/** The PEP node that holds the one item every contact is notified about. */
export const NODE_SHARES = NS_SHARES;
export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';

/** Item bytes we allow ourselves: Prosody's 262,144-byte stanza limit minus room for iq/pubsub/publish-options. */
export const MAX_ITEM_BYTES = 200_000;
/** How much of a paged list rides along in the main item, for receivers that do not read pages. */
export const PREVIEW_BYTES = 32_000;

/** Limits on what a contact may make us store or fetch (each well above what a real node needs). */
export const LIMITS = {
  nameBytes: 1024,
  resourceChars: 256,
  resourcesPerItem: 64,
  addressesPerResource: 64,
  sharesPerResource: 200_000,
  pages: 200,
} as const;

export interface Share {
  infoHash: string;
  name: string;
  size: number;
}

export interface Address {
  address: string;
  port: number;
}

export interface ResourceShares {
  resource: string;
  /** The full list (inline), or only a preview when `paged` is set. */
  shares: Share[];
  addresses: Address[];
  paged?: { version: string; pages: number };
}

/** What was wrong with an item: a count and the first few reasons, for one log line. */
export class Problems {
  count = 0;
  readonly samples: string[] = [];
  add(reason: string): void {
    this.count++;
    if (this.samples.length < 5) this.samples.push(reason.length > 160 ? `${reason.slice(0, 160)}…` : reason);
  }
}

/** BITWEEN_ALLOW_LOOPBACK: accept 127.0.0.0/8 and ::1 from contacts (tests, one-machine setups). */
export type ParseOptions = AddressPolicy;

// Names are shown to the user and become folder names: no control characters (C0, DEL, C1), no line or
// paragraph separators, no bidi overrides that make "gpj.exe" read as "exe.jpg", no path separator.
// eslint-disable-next-line no-control-regex
const BAD_NAME_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb/]/;
// eslint-disable-next-line no-control-regex
const BAD_RESOURCE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const HASH = /^[0-9a-fA-F]{40}$/;
const DIGITS = /^\d{1,16}$/;
const VERSION = /^[A-Za-z0-9_-]{1,64}$/;

function quote(v: string | undefined): string {
  return v === undefined ? 'missing' : JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
}

export function checkName(name: string | undefined): string | undefined {
  if (name === undefined || name === '') return 'empty name';
  if (Buffer.byteLength(name) > LIMITS.nameBytes) return `name of ${Buffer.byteLength(name)} bytes (limit ${LIMITS.nameBytes})`;
  if (BAD_NAME_CHARS.test(name)) return `name ${quote(name)} has a control character or '/'`;
  if (name === '.' || name === '..') return `name ${quote(name)}`;
  return undefined;
}

/** A share_item's attributes as a Share, or the reason it is invalid. */
export function parseShare(attrs: Record<string, string | undefined>): Share | string {
  const { hash, name, size } = attrs;
  if (hash === undefined || !HASH.test(hash)) return `hash ${quote(hash)} is not 40 hex characters`;
  const nameProblem = checkName(name);
  if (nameProblem) return nameProblem;
  if (size === undefined || !DIGITS.test(size) || Number(size) > Number.MAX_SAFE_INTEGER) return `size ${quote(size)} is not a non-negative integer`;
  return { infoHash: hash.toLowerCase(), name: name!, size: Number(size) };
}

/** Why a contact may not make us dial this address (lib/address.ts, the one rule), or undefined. */
export function checkIp(ip: string | undefined, opts: ParseOptions): string | undefined {
  const result = checkAddress(ip, opts);
  return 'refused' in result ? result.refused : undefined;
}

/** The address in canonical spelling (IPv4-mapped IPv6 as IPv4), as the store prints it back. */
export function parseAddress(attrs: Record<string, string | undefined>, opts: ParseOptions): Address | string {
  const { address, port } = attrs;
  const ip = checkAddress(address, opts);
  if ('refused' in ip) return ip.refused;
  if (port === undefined || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `port ${quote(port)} is not 1-65535`;
  return { address: ip.canonical, port: Number(port) };
}

function checkResource(resource: string | undefined): string | undefined {
  if (resource === undefined || resource === '') return 'resource without a name';
  if (resource.length > LIMITS.resourceChars) return `resource name of ${resource.length} characters`;
  if (BAD_RESOURCE_CHARS.test(resource)) return `resource ${quote(resource)} has a control character`;
  return undefined;
}

/** Adds valid, not yet seen share_items of `el` to `into` (dedupe by hash); counts what is dropped. */
function collectShares(el: Element, into: Map<string, Share>, problems: Problems, limit: number): void {
  for (const child of el.getChildElements()) {
    if (child.name !== 'share_item') continue;
    const share = parseShare(child.attrs);
    if (typeof share === 'string') problems.add(share);
    else if (into.has(share.infoHash)) problems.add(`duplicate hash ${share.infoHash}`);
    else if (into.size >= limit) problems.add(`more than ${limit} shares`);
    else into.set(share.infoHash, share);
  }
}

/** Parses a main item's <user_shares>; never throws. */
export function parseUserShares(el: Element | undefined, opts: ParseOptions): { resources: ResourceShares[]; problems: Problems } {
  const problems = new Problems();
  const resources = new Map<string, ResourceShares>();
  if (!el || !el.is('user_shares', NS_SHARES)) {
    problems.add(`payload is <${el?.name ?? 'nothing'}>, not <user_shares xmlns='${NS_SHARES}'>`);
    return { resources: [], problems };
  }
  for (const child of el.getChildElements()) {
    if (child.name !== 'resource') {
      problems.add(`unknown element <${child.name.slice(0, 40)}>`);
      continue;
    }
    const resource = child.attrs.resource;
    const resourceProblem = checkResource(resource);
    if (resourceProblem) {
      problems.add(resourceProblem);
      continue;
    }
    if (resources.has(resource!)) {
      problems.add(`duplicate resource ${quote(resource)}`);
      continue;
    }
    if (resources.size >= LIMITS.resourcesPerItem) {
      problems.add(`more than ${LIMITS.resourcesPerItem} resources`);
      continue;
    }
    const shares = new Map<string, Share>();
    const addresses = new Map<string, Address>();
    for (const item of child.getChildElements()) {
      if (item.name === 'share_item') continue;
      if (item.name !== 'ip_address') {
        problems.add(`unknown element <${item.name.slice(0, 40)}>`);
        continue;
      }
      const a = parseAddress(item.attrs, opts);
      if (typeof a === 'string') problems.add(a);
      else if (addresses.size >= LIMITS.addressesPerResource) problems.add(`more than ${LIMITS.addressesPerResource} addresses`);
      else addresses.set(`${a.address} ${a.port}`, a);
    }
    collectShares(child, shares, problems, LIMITS.sharesPerResource);
    const entry: ResourceShares = { resource: resource!, shares: [...shares.values()], addresses: [...addresses.values()] };
    const { pages, version } = child.attrs;
    if (pages !== undefined || version !== undefined) {
      if (pages === undefined || !/^\d{1,4}$/.test(pages) || Number(pages) < 1 || Number(pages) > LIMITS.pages) {
        problems.add(`pages ${quote(pages)} is not 1-${LIMITS.pages}: resource ${quote(resource)} ignored`);
        continue;
      }
      if (version === undefined || !VERSION.test(version)) {
        problems.add(`version ${quote(version)} is not 1-64 letters, digits, '-' or '_': resource ${quote(resource)} ignored`);
        continue;
      }
      entry.paged = { version, pages: Number(pages) };
    }
    resources.set(resource!, entry);
  }
  return { resources: [...resources.values()], problems };
}

/** Parses one page item; the shares are added to `into`. Returns a reason when the page does not belong. */
export function parsePage(
  el: Element | undefined,
  expect: { resource: string; version: string; page: number },
  into: Map<string, Share>,
  problems: Problems,
): string | undefined {
  if (!el || !el.is('user_shares', NS_SHARES)) return `page ${expect.page} is missing or not <user_shares>`;
  if (el.attrs.version !== expect.version) return `page ${expect.page} has version ${quote(el.attrs.version)}, not ${expect.version}`;
  const res = el.getChildren('resource').find((r) => r.attrs.resource === expect.resource);
  if (!res) return `page ${expect.page} does not hold resource ${quote(expect.resource)}`;
  collectShares(res, into, problems, LIMITS.sharesPerResource);
  return undefined;
}

export function pageNode(resource: string, page: number): string {
  return `${NS_SHARES}/pages/${encodeURIComponent(resource)}/${page}`;
}

function shareElement(s: Share): Element {
  return xml('share_item', { hash: s.infoHash, name: s.name, size: String(s.size) });
}

function resourceElement(r: ResourceShares): Element {
  const attrs: Record<string, string> = { resource: r.resource };
  if (r.paged) {
    attrs.pages = String(r.paged.pages);
    attrs.version = r.paged.version;
  }
  return xml(
    'resource',
    attrs,
    ...r.shares.map(shareElement),
    ...r.addresses.map((a) => xml('ip_address', { address: a.address, port: String(a.port) })),
  );
}

export function buildUserShares(resources: ResourceShares[], attrs: Record<string, string> = {}): Element {
  return xml('user_shares', { xmlns: NS_SHARES, ...attrs }, ...resources.map(resourceElement));
}

export function byteLength(el: Element): number {
  return Buffer.byteLength(el.toString());
}

/** Content version of a full share list: changes whenever any share does. */
export function shareListVersion(shares: Share[]): string {
  const h = createHash('sha256');
  for (const s of shares) h.update(`${s.infoHash}\t${s.size}\t${s.name}\n`);
  return h.digest('base64url').slice(0, 32);
}

/** Identity of what a resource entry says: equal fingerprints need no store update. */
export function fingerprint(r: ResourceShares): string {
  const h = createHash('sha256');
  if (r.paged) h.update(`paged ${r.paged.version} ${r.paged.pages}\n`);
  else for (const s of [...r.shares].sort((a, b) => (a.infoHash < b.infoHash ? -1 : 1))) h.update(`${s.infoHash}\t${s.size}\t${s.name}\n`);
  h.update('--\n');
  for (const a of r.addresses.map((x) => `${x.address} ${x.port}`).sort()) h.update(`${a}\n`);
  return h.digest('base64url').slice(0, 32);
}

/** Splits shares into pages whose <user_shares> stays within maxBytes each. */
export function splitPages(resource: string, shares: Share[], version: string, maxBytes = MAX_ITEM_BYTES): Share[][] {
  const overhead = byteLength(buildUserShares([{ resource, shares: [], addresses: [] }], { version, page: '9999', pages: '9999' }));
  const pages: Share[][] = [];
  let page: Share[] = [];
  let bytes = overhead;
  for (const s of shares) {
    const size = byteLength(shareElement(s));
    if (page.length > 0 && bytes + size > maxBytes) {
      pages.push(page);
      page = [];
      bytes = overhead;
    }
    page.push(s);
    bytes += size;
  }
  if (page.length > 0) pages.push(page);
  return pages;
}

/** The leading shares that fit in maxBytes. */
export function preview(shares: Share[], maxBytes = PREVIEW_BYTES): Share[] {
  const out: Share[] = [];
  let bytes = 0;
  for (const s of shares) {
    bytes += byteLength(shareElement(s));
    if (bytes > maxBytes) break;
    out.push(s);
  }
  return out;
}

export interface Publication {
  /** The payload of the one item on NODE_SHARES. */
  main: Element;
  /** Page payloads to publish before `main`, in order (page i+1 at pageNode(resource, i+1)). */
  pages: Element[];
  /** This resource's entry as contacts will parse it. */
  own: ResourceShares;
  /** Other resources left out because the item would not fit. */
  omitted: string[];
}

/**
 * What to publish for this resource, keeping the other resources of the account. The thesis's single-item
 * form when everything fits; otherwise this resource's list goes to pages, then previews are dropped, then
 * (last resort) other resources, largest first — they republish themselves, with this one paged.
 */
export function planPublication(own: ResourceShares, others: ResourceShares[], maxBytes = MAX_ITEM_BYTES): Publication {
  const othersSorted = others.filter((o) => o.resource !== own.resource);
  const fits = (entries: ResourceShares[]) => byteLength(buildUserShares(entries)) <= maxBytes;
  if (fits([own, ...othersSorted])) return { main: buildUserShares([own, ...othersSorted]), pages: [], own, omitted: [] };

  let ownEntry: ResourceShares = own;
  let pages: Element[] = [];
  if (own.shares.length > 0) {
    const version = shareListVersion(own.shares);
    const split = splitPages(own.resource, own.shares, version, maxBytes);
    pages = split.map((shares, i) =>
      buildUserShares([{ resource: own.resource, shares, addresses: [] }], { version, page: String(i + 1), pages: String(split.length) }),
    );
    ownEntry = { ...own, shares: preview(own.shares), paged: { version, pages: split.length } };
  }
  let rest = othersSorted;
  if (!fits([ownEntry, ...rest])) {
    if (ownEntry.paged) ownEntry = { ...ownEntry, shares: [] };
    rest = rest.map((o) => (o.paged ? { ...o, shares: [] } : o));
  }
  const omitted: string[] = [];
  while (!fits([ownEntry, ...rest]) && rest.length > 0) {
    const largest = rest.reduce((a, b) => (byteLength(resourceElement(a)) >= byteLength(resourceElement(b)) ? a : b));
    omitted.push(largest.resource);
    rest = rest.filter((o) => o !== largest);
  }
  return { main: buildUserShares([ownEntry, ...rest]), pages, own: ownEntry, omitted };
}

/** Publish-options from INTERFACE.md §5: presence access, one item. */
export function publishIq(node: string, payload: Element, itemId = 'current'): Element {
  return xml(
    'iq',
    { type: 'set' },
    xml(
      'pubsub',
      { xmlns: NS_PUBSUB },
      xml('publish', { node }, xml('item', { id: itemId }, payload)),
      xml('publish-options', {}, nodeConfigForm('http://jabber.org/protocol/pubsub#publish-options')),
    ),
  );
}

export function nodeConfigForm(formType: string): Element {
  const field = (v: string, value: string, type?: string) => xml('field', { var: v, type }, xml('value', {}, value));
  return xml(
    'x',
    { xmlns: 'jabber:x:data', type: 'submit' },
    field('FORM_TYPE', formType, 'hidden'),
    field('pubsub#access_model', 'presence'),
    field('pubsub#max_items', '1'),
  );
}

/** The <user_shares> payload of the last item in a pubsub <items> element (an event's or an IQ result's). */
export function lastItemPayload(items: Element | undefined): Element | undefined {
  const list = items?.getChildren('item') ?? [];
  const last = list[list.length - 1];
  return last?.getChildElements()[0];
}
