// The `error` report's one definition (lib/errors.ts) and the bus's limits before parsing (lib/bus.ts):
// codes from any thrown value, bounded fields, the cut mark, and a report end to end on the real Redis.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Bus, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, decodePayload } from '../../lib/bus.js';
import {
  BadInputError,
  BitweenError,
  CodedError,
  ERROR_CODES,
  MAX_REPORT_ERROR_BYTES,
  MAX_REPORT_PAYLOAD_BYTES,
  NotFoundError,
  StoreDownError,
  TooDeepError,
  TooLargeError,
  buildErrorReport,
  errorCode,
  parseErrorReport,
  reportEchoes,
} from '../../lib/errors.js';
import { REDIS_URL, TestBus, newNamespace } from '../helpers/bus.js';

const jsonBytes = (s: string) => Buffer.byteLength(JSON.stringify(s)) - 2;
const sysError = (code: string) => Object.assign(new Error(`${code}: failed`), { code });

test('codes: own classes, Node system errors, PostgreSQL connection failures, causes; else E_INTERNAL', () => {
  assert.equal(errorCode(new BadInputError('x')), 'E_BAD_INPUT');
  assert.equal(errorCode(new TooLargeError('x')), 'E_TOO_LARGE');
  assert.ok(new TooDeepError('x') instanceof BadInputError);
  assert.equal(errorCode(new NotFoundError('x')), 'E_NOT_FOUND');
  assert.equal(errorCode(new StoreDownError('x')), 'E_STORE_DOWN');
  assert.equal(errorCode(new CodedError('E_UNSAFE_NAME', 'x')), 'E_UNSAFE_NAME');
  assert.equal(errorCode(sysError('ENOSPC')), 'E_DISK_FULL');
  assert.equal(errorCode(sysError('EIO')), 'E_WRITE_FAILED');
  assert.equal(errorCode(new Error('torrent stopped', { cause: sysError('ENOSPC') })), 'E_DISK_FULL');
  assert.equal(errorCode(Object.assign(new Error('terminating connection'), { code: '57P01' })), 'E_STORE_DOWN');
  assert.equal(errorCode(Object.assign(new Error('connection failure'), { code: '08006' })), 'E_STORE_DOWN');
  assert.equal(errorCode({ code: 'E_FILES_MISSING' }), 'E_FILES_MISSING');
  assert.equal(errorCode(new TypeError('x')), 'E_INTERNAL');
  assert.equal(errorCode(new BitweenError('an unregistered code')), 'E_INTERNAL');
  assert.equal(errorCode('a string'), 'E_INTERNAL');
  for (const [code, meaning] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^E_[A-Z_]+$/);
    assert.doesNotMatch(meaning, /\n/);
  }
});

test('a report keeps 1 KiB of the payload (escapes counted), one bounded line of error, and the info-hash', () => {
  const big = `["${'x'.repeat(100_000)}"]`;
  const r = buildErrorReport({ service: 's', topic: 't', err: new BadInputError(`${big} is not\na hash`), payload: big, infoHash: 'AB'.repeat(20) });
  assert.equal(r.code, 'E_BAD_INPUT');
  assert.equal(r.info_hash, 'ab'.repeat(20));
  assert.match(r.payload, /…\[cut: 100004 bytes\]$/);
  const head = r.payload.slice(0, -'…[cut: 100004 bytes]'.length);
  // `["` is 3 bytes in JSON (the quote is escaped): 1,023 characters fill the 1,024 bytes.
  assert.equal(head, `["${'x'.repeat(1021)}`);
  assert.equal(jsonBytes(head), MAX_REPORT_PAYLOAD_BYTES);
  assert.ok(jsonBytes(r.error) <= MAX_REPORT_ERROR_BYTES);
  assert.doesNotMatch(r.error, /\n/);
  assert.ok(reportEchoes(r, big));
  assert.ok(!reportEchoes(r, `${big} `));

  // Control characters take 6 bytes each in JSON: the head is cut by that size, not by characters.
  const controls = '\u0001'.repeat(5000);
  const c = buildErrorReport({ service: 's', topic: 't', err: new Error('x'), payload: controls });
  assert.ok(Buffer.byteLength(JSON.stringify(c)) < 2048, `${Buffer.byteLength(JSON.stringify(c))} bytes`);
  assert.equal(c.code, 'E_INTERNAL');

  const small = buildErrorReport({ service: 's', topic: 't', err: new NotFoundError('no such torrent'), payload: '["x"]' });
  assert.deepEqual(small, { service: 's', topic: 't', code: 'E_NOT_FOUND', error: 'no such torrent', payload: '["x"]' });
  assert.deepEqual(parseErrorReport(JSON.stringify(small)), small);
  assert.equal(parseErrorReport('{"service": "s"}'), undefined);
  assert.equal(parseErrorReport('x'.repeat(100_000)), undefined);
  assert.equal(parseErrorReport('{"service": "s", "topic": "t", "error": "e"}')!.code, 'E_INTERNAL');
});

test('payloads over the size or nesting limit are refused before parsing, with their own codes', () => {
  assert.throws(() => decodePayload(`["${'a'.repeat(MAX_PAYLOAD_BYTES)}"]`), (e: Error) => e instanceof TooLargeError);
  assert.throws(() => decodePayload('a'.repeat(MAX_PAYLOAD_BYTES + 1)), TooLargeError);
  // Counted in bytes: 30,000 three-byte characters are 90,000 bytes.
  assert.throws(() => decodePayload(`["${'€'.repeat(30_000)}"]`), TooLargeError);
  assert.deepEqual(decodePayload(`["${'a'.repeat(MAX_PAYLOAD_BYTES - 4)}"]`).args.length, 1);
  // 10,000 levels: refused by the scan, no recursion anywhere.
  assert.throws(() => decodePayload('['.repeat(10_000) + ']'.repeat(10_000)), TooDeepError);
  assert.throws(() => decodePayload('{"a":'.repeat(MAX_PAYLOAD_DEPTH + 1) + '1' + '}'.repeat(MAX_PAYLOAD_DEPTH + 1)), TooDeepError);
  const atLimit = '['.repeat(MAX_PAYLOAD_DEPTH) + ']'.repeat(MAX_PAYLOAD_DEPTH);
  assert.equal(decodePayload(atLimit).args.length, 1);
  // Brackets inside strings (escaped quotes too) are text, not nesting.
  assert.deepEqual(decodePayload(JSON.stringify(['[[[[\\"[[[['.repeat(20)])).args, ['[[[[\\"[[[['.repeat(20)]);
  // Unbalanced text is left to JSON.parse, which says it is not JSON.
  assert.throws(() => decodePayload('[]]]]['), /not valid JSON/);
});

describe('reports on the real Redis', () => {
  const ns = newNamespace('rep');
  let tb: TestBus;
  let bus: Bus;
  before(async () => {
    tb = await TestBus.open(ns);
    bus = new Bus({ redisUrl: REDIS_URL, namespace: ns, service: 'reptest', log: pino({ level: 'silent' }) });
    await bus.subscribe('take', () => undefined);
    await bus.ready();
  });
  after(async () => {
    await bus?.close();
    await tb?.close();
  });

  test('a 1 MiB payload → an E_TOO_LARGE report of under 2 KiB naming its size', async () => {
    const since = tb.mark();
    const raw = `["${'z'.repeat(1024 * 1024)}"]`;
    await tb.publishRaw('take', raw);
    const m = await tb.waitFor('error', () => true, 10000, since);
    assert.ok(Buffer.byteLength(m.raw) < 2048, `${Buffer.byteLength(m.raw)} bytes`);
    assert.equal(m.error!.code, 'E_TOO_LARGE');
    assert.match(m.error!.error, /1048580 bytes, over the limit of 65536/);
    assert.match(m.error!.payload, /^\["z+…\[cut: 1048580 bytes\]$/);
    assert.ok(reportEchoes(m.error!, raw));
  });

  test('publishError(topic, err, payload, infoHash) adds info_hash; the 3-argument form still works', async () => {
    const since = tb.mark();
    const hash = 'cd'.repeat(20);
    await bus.publishError('torrent', Object.assign(new Error('write failed'), { code: 'ENOSPC' }), '', hash);
    await bus.publishError('add_hash', new BadInputError('refused'), hash);
    const first = await tb.waitFor('error', (x) => x.error?.topic === 'torrent', 5000, since);
    assert.deepEqual(first.error, { service: 'reptest', topic: 'torrent', code: 'E_DISK_FULL', error: 'write failed', payload: '', info_hash: hash });
    const second = await tb.waitFor('error', (x) => x.error?.topic === 'add_hash', 5000, since);
    assert.deepEqual(second.error, { service: 'reptest', topic: 'add_hash', code: 'E_BAD_INPUT', error: 'refused', payload: hash });
  });
});
