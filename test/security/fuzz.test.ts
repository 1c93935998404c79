// Hostile load on the bus (issue 12.5, 12.7): 2,000 fuzzed payloads per service (torrent, xmpp, nat, web as
// real processes), then: the same pid (no restart), every `error` report bounded (≤ 2 KiB, a registered code,
// ≤ 1 KiB of payload plus the cut mark), payloads over the size or nesting limit refused with E_TOO_LARGE /
// E_TOO_DEEP, and each service still answering. Deterministic: BITWEEN_FUZZ_SEED (default below) picks the
// payloads; a failure names the seed to replay.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PAYLOAD_CUT_MARK, MAX_REPORT_ERROR_BYTES, MAX_REPORT_PAYLOAD_BYTES, isErrorCode, type ErrorReport } from '../../lib/errors.js';
import { HEARTBEAT_TTL_S } from '../../lib/heartbeat.js';
import { Fuzzer } from './fuzz-payloads.js';
import { startFuzzNode, type FuzzNode, type Received, type ServiceName } from './fuzz-node.js';

const SEED = Number(process.env.BITWEEN_FUZZ_SEED ?? 20261126);
const PER_SERVICE = 2000;
/** A report's whole message: 1 KiB of payload, 512 B of error, the names and the JSON around them. */
const MAX_REPORT_BYTES = 2048;

let node: FuzzNode;
before(async () => {
  node = await startFuzzNode();
});
after(() => node?.close());

/** Bytes of `s` inside a JSON string. */
const jsonBytes = (s: string) => Buffer.byteLength(JSON.stringify(s)) - 2;

/** What is wrong with one `error` message (empty: nothing). */
function problems(m: Received): string[] {
  const out: string[] = [];
  if (m.bytes > MAX_REPORT_BYTES) out.push(`${m.bytes} bytes`);
  let r: ErrorReport;
  try {
    r = JSON.parse(m.raw) as ErrorReport;
  } catch {
    return [...out, 'not JSON'];
  }
  if (!isErrorCode(r.code)) out.push(`code ${JSON.stringify(r.code)} is not registered`);
  if (typeof r.error !== 'string' || /\n/.test(r.error) || jsonBytes(r.error) > MAX_REPORT_ERROR_BYTES) out.push('error is not one bounded line');
  if (typeof r.payload !== 'string') out.push('no payload');
  else {
    const cut = PAYLOAD_CUT_MARK.exec(r.payload);
    const head = cut ? r.payload.slice(0, cut.index) : r.payload;
    if (jsonBytes(head) > MAX_REPORT_PAYLOAD_BYTES) out.push(`payload of ${jsonBytes(head)} bytes`);
  }
  return out;
}

/** A payload over a limit: its head, to find its report (the refusal keeps a head of what was received). */
interface Refusal {
  topic: string;
  head: string;
  bytes: number;
  expect: string;
}

function answers(r: ErrorReport, x: Refusal): boolean {
  if (r.topic !== x.topic) return false;
  const cut = PAYLOAD_CUT_MARK.exec(r.payload);
  if (!cut) return x.bytes <= x.head.length && r.payload === x.head;
  const head = r.payload.slice(0, cut.index);
  return Number(cut[1]) === x.bytes && head.length > 0 && x.head.startsWith(head);
}

/** The request after the fuzz that must still be answered, per service (web: its event stream and HTTP). */
const SENTINEL: Record<Exclude<ServiceName, 'web'>, string> = { torrent: 'add_hash', xmpp: 'add_contact', nat: 'bt_ready' };

const services: ServiceName[] = ['torrent', 'xmpp', 'nat', 'web'];
services.forEach((name, index) => {
  test(`${name}: ${PER_SERVICE} hostile payloads → no restart, bounded typed errors, still answering`, async () => {
    const proc = node.procs[name];
    const pid = proc.child.pid;
    const topics = node.topics[name];
    assert.ok(topics.length > 0, `${name} takes no topics`);
    const events = name === 'web' ? await openEventStream(node) : undefined;

    const since = node.received.length;
    const fuzzer = new Fuzzer(SEED + index);
    const refusals: Refusal[] = [];
    const kinds = new Map<string, number>();
    for (let i = 0; i < PER_SERVICE; i++) {
      const p = fuzzer.next();
      const topic = topics[i % topics.length]!;
      kinds.set(p.kind, (kinds.get(p.kind) ?? 0) + 1);
      if (p.expect && name !== 'web') {
        const head = (typeof p.data === 'string' ? Buffer.from(p.data) : p.data).subarray(0, 4096).toString();
        refusals.push({ topic, head, bytes: p.bytes, expect: p.expect });
      }
      await node.publish(topic, p.data);
    }

    // The bus handles a service's messages in arrival order: once the answer to a request published after
    // the fuzz is here, every fuzzed payload before it has been handled.
    const tag = `sentinel-${name}-${SEED}`;
    if (name === 'web') {
      await node.publish('torrent_added', JSON.stringify({ args: [tag] }));
      await events!.waitFor(tag, 120_000);
      const res = await fetch(`${node.web.url}/api/status`);
      assert.equal(res.status, 200, 'the dashboard still answers HTTP');
      events!.close();
    } else {
      const report = await node.sentinel(name, SENTINEL[name], tag, 300_000);
      assert.equal(report.code, 'E_BAD_INPUT');
    }
    if (name === 'torrent') {
      // A valid request gets its normal answer.
      const sentAt = node.received.length;
      await node.publish('add_hash', JSON.stringify([node.sharedHash]));
      await node.waitFor('torrent_added', (x) => x.raw.includes(node.sharedHash), 60_000, sentAt);
    }

    // Same process, still beating.
    assert.equal(proc.child.exitCode, null, `${name} exited`);
    const beat = await node.heartbeat(name);
    assert.ok(beat, `${name} has no heartbeat`);
    assert.equal(beat.pid, pid, `${name} restarted`);
    assert.ok(Date.now() - Date.parse(beat.updatedAt) < HEARTBEAT_TTL_S * 1000);

    // Every report bounded and typed.
    const reports = node.received.slice(since).filter((m) => m.topic === 'error' && !m.own);
    const bad = reports.map((m) => ({ m, p: problems(m) })).filter((x) => x.p.length > 0);
    assert.deepEqual(bad.slice(0, 5).map((x) => `${x.p.join(', ')}: ${x.m.raw.slice(0, 300)}`), [], `seed ${SEED + index}`);
    const mine = reports.map((m) => JSON.parse(m.raw) as ErrorReport).filter((r) => r.service === name);
    // No amplification: at most one report per payload (and the sentinel).
    assert.ok(mine.length <= PER_SERVICE + 1, `${mine.length} reports for ${PER_SERVICE} payloads`);
    // Each payload over a limit was refused with its own code — or, on a loaded machine where the service's
    // queue filled up, unread with E_BUSY (bounded and typed as well); most with their own code.
    const answeredAs = (x: Refusal, code: string) => mine.some((r) => r.code === code && answers(r, x));
    const unmatched = refusals.filter((x) => !answeredAs(x, x.expect) && !answeredAs(x, 'E_BUSY'));
    assert.deepEqual(unmatched.map((x) => `${x.topic} ${x.expect} ${x.bytes} B ${x.head.slice(0, 60)}`), [], `seed ${SEED + index}`);
    const ownCode = refusals.filter((x) => answeredAs(x, x.expect)).length;
    assert.ok(ownCode >= refusals.length / 2, `only ${ownCode} of ${refusals.length} payloads over a limit were refused with their own code`);

    const codes = new Map<string, number>();
    for (const r of mine) codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    const maxBytes = Math.max(0, ...reports.map((m) => m.bytes));
    process.stderr.write(`# ${name}: ${PER_SERVICE} payloads ${JSON.stringify(Object.fromEntries(kinds))} → ${mine.length} reports ${JSON.stringify(Object.fromEntries(codes))}, largest ${maxBytes} B\n`);
    if (name !== 'web') assert.ok(refusals.length > 50, 'the fuzz sent payloads over the limits');
  });
});

/** The dashboard's event stream, read as a browser would (and dropped, as a stalled tab is, if it lags). */
async function openEventStream(n: FuzzNode): Promise<{ waitFor(text: string, timeoutMs: number): Promise<void>; close(): void }> {
  const abort = new AbortController();
  const res = await fetch(`${n.web.url}/api/events`, { signal: abort.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let tail = '';
  const wanted = new Map<string, () => void>();
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        tail = (tail + value).slice(-8192);
        for (const [text, found] of wanted) if (tail.includes(text)) found();
      }
    } catch {
      // aborted at the end
    }
  })();
  return {
    waitFor(text, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the event stream did not relay ${text} within ${timeoutMs} ms`)), timeoutMs);
        wanted.set(text, () => {
          clearTimeout(timer);
          wanted.delete(text);
          resolve();
        });
      });
    },
    close: () => abort.abort(),
  };
}
