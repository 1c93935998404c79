// The wire format on its own: validation of contacts' fields, splitting a large list into pages and
// reading it back, caps. (The same paths run against Prosody in the other xmpp tests.)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { CAPS_VER, FEATURES, discoInfo } from '../../services/xmpp/caps.js';
import { client } from '@xmpp/client';
import { fixIncomingData, plainTextRefusal } from '../../services/xmpp/connection.js';
import { sanitizeName } from '../../services/xmpp/publish.js';
import {
  MAX_ITEM_BYTES,
  NS_SHARES,
  Problems,
  buildUserShares,
  byteLength,
  checkIp,
  parseAddress,
  parsePage,
  parseShare,
  parseUserShares,
  planPublication,
  type Share,
} from '../../services/xmpp/wire.js';
import { randomHash } from '../helpers/xmpp.js';

const loose = { allowLoopback: true };
const strict = { allowLoopback: false };

describe('xmpp wire format', () => {
  test('share items: hash, name, size checked', () => {
    const h = randomHash();
    assert.deepEqual(parseShare({ hash: h.toUpperCase(), name: 'a b', size: '0' }), { infoHash: h, name: 'a b', size: 0 });
    for (const bad of [
      { hash: h.slice(1), name: 'x', size: '1' },
      { hash: `${h.slice(1)}g`, name: 'x', size: '1' },
      { hash: h, name: '', size: '1' },
      { hash: h, name: 'x'.repeat(1025), size: '1' },
      { hash: h, name: 'é'.repeat(600), size: '1' }, // 1,200 bytes
      { hash: h, name: 'a\nb', size: '1' },
      { hash: h, name: 'a\u0000b', size: '1' },
      { hash: h, name: 'a\u009bb', size: '1' },
      { hash: h, name: 'a\u202eb', size: '1' },
      { hash: h, name: 'a/b', size: '1' },
      { hash: h, name: '..', size: '1' },
      { hash: h, name: 'x', size: '-1' },
      { hash: h, name: 'x', size: '1.5' },
      { hash: h, name: 'x', size: '12345678901234567' },
      { hash: h, name: 'x' },
    ]) {
      assert.equal(typeof parseShare(bad), 'string', JSON.stringify(bad));
    }
  });

  test('addresses: unicast IPv4/IPv6, port 1-65535, loopback only when allowed', () => {
    assert.deepEqual(parseAddress({ address: '203.0.113.7', port: '51413' }, strict), { address: '203.0.113.7', port: 51413 });
    assert.deepEqual(parseAddress({ address: '2001:DB8::7', port: '1' }, strict), { address: '2001:db8::7', port: 1 });
    assert.equal(typeof parseAddress({ address: '127.0.0.1', port: '1' }, strict), 'string');
    assert.deepEqual(parseAddress({ address: '127.0.0.1', port: '65535' }, loose), { address: '127.0.0.1', port: 65535 });
    for (const ip of ['not-an-ip', '0.0.0.0', '::', '224.1.2.3', '255.255.255.255', 'ff02::1', 'fe80::1', '169.254.1.1', '1.2.3', '01.2.3.4', '']) {
      assert.ok(checkIp(ip, loose), ip);
    }
    for (const port of ['0', '65536', '99999', '-1', '80.5', 'x', '']) {
      assert.equal(typeof parseAddress({ address: '198.51.100.1', port }, strict), 'string', port);
    }
  });

  test('own names are made publishable', () => {
    assert.equal(sanitizeName('a\nb\u202e/c'), 'a\ufffdb\ufffd\ufffdc');
    assert.ok(Buffer.byteLength(sanitizeName('ü'.repeat(2000))) <= 1024);
    assert.equal(sanitizeName('..'), '_..');
  });

  test('a list that fits is the thesis single item; a large one is paged and reads back whole', () => {
    const small: Share[] = [{ infoHash: randomHash(), name: 'holiday', size: 1 }];
    const addresses = [{ address: '203.0.113.7', port: 51413 }];
    const one = planPublication({ resource: 'home', shares: small, addresses }, []);
    assert.equal(one.pages.length, 0);
    assert.equal(
      one.main.toString(),
      `<user_shares xmlns="${NS_SHARES}"><resource resource="home"><share_item hash="${small[0]!.infoHash}" name="holiday" size="1"/><ip_address address="203.0.113.7" port="51413"/></resource></user_shares>`,
    );

    const many: Share[] = Array.from({ length: 5000 }, (_, i) => ({ infoHash: randomHash(), name: `n${i}&<>'"${'x'.repeat(i % 100)}`, size: i }));
    const other = { resource: 'laptop', shares: small, addresses };
    const plan = planPublication({ resource: 'home', shares: many, addresses }, [other]);
    assert.ok(plan.pages.length >= 3);
    for (const el of [plan.main, ...plan.pages]) assert.ok(byteLength(el) <= MAX_ITEM_BYTES);
    const { resources, problems } = parseUserShares(plan.main, loose);
    assert.equal(problems.count, 0);
    const home = resources.find((r) => r.resource === 'home')!;
    assert.ok(home.paged && home.paged.pages === plan.pages.length);
    assert.ok(home.shares.length > 0 && home.shares.length < 5000, 'a preview rides along');
    assert.deepEqual(resources.find((r) => r.resource === 'laptop')?.shares, small);
    const into = new Map<string, Share>();
    const pageProblems = new Problems();
    plan.pages.forEach((p, i) => assert.equal(parsePage(p, { resource: 'home', version: home.paged!.version, page: i + 1 }, into, pageProblems), undefined));
    assert.deepEqual([...into.values()], many);
    assert.match(parsePage(plan.pages[0], { resource: 'home', version: 'other', page: 1 }, into, pageProblems) ?? '', /version/);
  });

  test('other resources are kept; when even paging does not fit, previews go, then the largest others', () => {
    const big = (resource: string): { resource: string; shares: Share[]; addresses: [] } => ({
      resource,
      shares: Array.from({ length: 1300 }, (_, i) => ({ infoHash: randomHash(), name: `${resource}-${i}-${'y'.repeat(40)}`, size: i })),
      addresses: [],
    });
    const plan = planPublication({ resource: 'me', shares: [], addresses: [] }, [big('a'), big('b')]);
    assert.ok(byteLength(plan.main) <= MAX_ITEM_BYTES);
    assert.equal(plan.omitted.length, 1);
    const parsed = parseUserShares(plan.main, loose).resources.map((r) => r.resource).sort();
    assert.deepEqual(parsed, ['me', plan.omitted[0] === 'a' ? 'b' : 'a'].sort());
  });

  test('duplicates, unknown elements and too many resources are counted, not fatal', () => {
    const h = randomHash();
    const el = buildUserShares(
      Array.from({ length: 70 }, (_, i) => ({ resource: `r${i}`, shares: [{ infoHash: h, name: 'x', size: 1 }], addresses: [] })),
    );
    const { resources, problems } = parseUserShares(el, loose);
    assert.equal(resources.length, 64);
    assert.equal(problems.count, 6);
    assert.equal(parseUserShares(undefined, loose).problems.count, 1);
  });

  test('a login goes over TLS, or over plain text only to a loopback server', () => {
    assert.equal(plainTextRefusal(true, '203.0.113.9', 'example.org'), undefined);
    assert.equal(plainTextRefusal(false, '127.0.0.1', 'xmpp://127.0.0.1:5222'), undefined);
    assert.equal(plainTextRefusal(false, '::1', 'xmpp://[::1]:5222'), undefined);
    assert.match(plainTextRefusal(false, '203.0.113.9', 'example.org') ?? '', /refusing to log in over plain text/);
    assert.match(plainTextRefusal(false, undefined, 'example.org') ?? '', /example\.org/);
  });

  test('incoming data: a character split between two TCP chunks arrives whole; data after close is dropped', () => {
    const c = client({ service: 'xmpp://127.0.0.1:9', domain: 'localhost' });
    fixIncomingData(c);
    const entity = c as unknown as { _onData(d: Buffer): void; parser: { write(t: string): void } | null; socket: unknown };
    let text = '';
    entity.socket = {};
    entity.parser = { write: (t) => (text += t) };
    const bytes = Buffer.from('<a name="ü—写"/>');
    for (let i = 0; i < bytes.length; i++) entity._onData(bytes.subarray(i, i + 1)); // one byte per chunk
    assert.equal(text, '<a name="ü—写"/>');
    entity.parser = null;
    assert.doesNotThrow(() => entity._onData(Buffer.from('<late/>')));
  });

  test('caps ver is the XEP-0115 hash of the disco#info answer', () => {
    const info = discoInfo(undefined);
    const identity = info.getChild('identity')!;
    const features = info.getChildren('feature').map((f) => f.attrs.var!).sort();
    assert.deepEqual(features, FEATURES);
    assert.ok(features.includes(`${NS_SHARES}+notify`));
    const s = `${identity.attrs.category}/${identity.attrs.type}//${identity.attrs.name}<${features.map((f) => `${f}<`).join('')}`;
    assert.equal(CAPS_VER, createHash('sha1').update(s).digest('base64'));
    assert.ok(discoInfo('urn:other#x').is('error'));
  });
});
