// The bus on real Redis: payload forms, bad input on `<ns>:error`, and surviving a Redis restart
// (a private redis-server this file starts, owns by pid and restarts on the same port).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { Bus, MAX_QUEUED_BYTES, MAX_QUEUED_MESSAGES, type Message } from '../lib/bus.js';
import { BadInputError } from '../lib/errors.js';
import { REDIS_URL, TestBus, newNamespace } from './helpers/bus.js';
import { freePort } from './helpers/ports.js';

/** A pino logger that keeps its lines, so a test can check what the service would have logged. */
function capturingLogger(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ name: 'bitween-bustest', level: 'debug', base: { service: 'bustest' } }, {
    write: (s: string) => void lines.push(JSON.parse(s)),
  });
  return { log, lines };
}

/** Handlers as a service writes them: `echo` answers on `echoed` with what it got. */
class Handlers {
  constructor(private readonly bus: Bus) {}
  async on_echo(msg: Message): Promise<void> {
    await this.bus.publish('echoed', [msg.args, msg.kwargs, msg.raw]);
  }
  on_refuse(msg: Message): void {
    throw new BadInputError(`refused ${JSON.stringify(msg.args)}`);
  }
  async on_crash(): Promise<void> {
    throw new TypeError('something unexpected');
  }
  /** Not a handler: no `on_` prefix. */
  helper(): void {}
}

async function openBus(redisUrl: string, namespace: string) {
  const { log, lines } = capturingLogger();
  const bus = new Bus({ redisUrl, namespace, service: 'bustest', log });
  const topics = await bus.serve(new Handlers(bus));
  await bus.ready();
  return { bus, lines, topics };
}

describe('bus on the shared Redis', () => {
  const ns = newNamespace('bus');
  let bus: Bus;
  let lines: Record<string, unknown>[];
  let tb: TestBus;

  before(async () => {
    tb = await TestBus.open(ns);
    const opened = await openBus(REDIS_URL, ns);
    bus = opened.bus;
    lines = opened.lines;
    assert.deepEqual(opened.topics.sort(), ['crash', 'echo', 'refuse']);
  });
  after(async () => {
    await bus?.close();
    await tb?.close();
  });

  /** Publishes `raw` on `echo` and returns what the handler got. */
  async function echo(raw: string): Promise<{ args: unknown; kwargs: unknown; raw: unknown }> {
    const since = tb.mark();
    await tb.publishRaw('echo', raw);
    const m = await tb.waitFor('echoed', () => true, 5000, since);
    return { args: m.args[0], kwargs: m.args[1], raw: m.args[2] };
  }

  const forms: [string, string, unknown[], Record<string, unknown>][] = [
    ['object with args and kwargs', '{"args": [1, "two", {"x": null}], "kwargs": {"delete_files": true}}', [1, 'two', { x: null }], { delete_files: true }],
    ['object with args only', '{"args": ["a"]}', ['a'], {}],
    ['object with kwargs only', '{"kwargs": {"k": 1}}', [], { k: 1 }],
    ['empty object', '{}', [], {}],
    ['JSON array', '[1, "two", [3]]', [1, 'two', [3]], {}],
    ['empty array', '[]', [], {}],
    ['plain string (a path)', '/srv/share/holiday photos', ['/srv/share/holiday photos'], {}],
    ['a number is one string', '42', ['42'], {}],
    ['a JSON string literal is the string as written', '"quoted"', ['"quoted"'], {}],
    ['empty payload', '', [], {}],
    ['blank payload', '  \n', [], {}],
  ];
  for (const [name, raw, args, kwargs] of forms) {
    test(`payload form: ${name}`, async () => {
      const got = await echo(raw);
      assert.deepEqual(got.args, args);
      assert.deepEqual(got.kwargs, kwargs);
      assert.equal(got.raw, raw);
    });
  }

  const malformed: [string, RegExp][] = [
    ['{"args": 1}', /"args" must be a JSON array/],
    ['{"kwargs": [1]}', /"kwargs" must be a JSON object/],
    ['[1,', /not valid JSON/],
    ['{"args": [1]', /not valid JSON/],
    ['{"foo": 1}', /only "args" and "kwargs", not "foo"/],
  ];
  for (const [raw, why] of malformed) {
    test(`malformed payload ${raw} → one error message, handler not run, subscriber keeps working`, async () => {
      const since = tb.mark();
      await tb.publishRaw('echo', raw);
      await tb.publishRaw('echo', '["after"]');
      // Handlers run in order and both the error and the echo go out on one connection: once the echo
      // is here, every error this payload caused is here too.
      const echoed = await tb.waitFor('echoed', () => true, 5000, since);
      assert.deepEqual(echoed.args[0], ['after'], 'the bad payload must not reach the handler');
      assert.equal(tb.count('echoed', since), 1);
      assert.equal(tb.count('error', since), 1);
      const err = (await tb.waitFor('error', () => true, 0, since)).error!;
      assert.deepEqual(Object.keys(err).sort(), ['code', 'error', 'payload', 'service', 'topic']);
      assert.equal(err.code, 'E_BAD_INPUT');
      assert.equal(err.service, 'bustest');
      assert.equal(err.topic, 'echo');
      assert.equal(err.payload, raw);
      assert.match(err.error, why);
      assert.doesNotMatch(err.error, /\n/);
    });
  }

  test('a handler throwing BadInputError → error message and one warn line; the next message is handled', async () => {
    const since = tb.mark();
    const logged = lines.length;
    await tb.publishRaw('refuse', '["x"]');
    await tb.publishRaw('echo', 'still here');
    const echoed = await tb.waitFor('echoed', () => true, 5000, since);
    assert.deepEqual(echoed.args[0], ['still here']);
    assert.equal(tb.count('error', since), 1);
    const err = tb.seen.slice(since).find((m) => m.topic === 'error')!.error!;
    assert.deepEqual(err, { service: 'bustest', topic: 'refuse', code: 'E_BAD_INPUT', error: 'refused ["x"]', payload: '["x"]' });
    const warn = lines.slice(logged).filter((l) => l.level === 40);
    assert.equal(warn.length, 1);
    assert.equal(warn[0]!.msg, 'refuse: refused ["x"]');
  });

  test('a handler throwing an unexpected error → error message, logged as an error with its stack', async () => {
    const since = tb.mark();
    const logged = lines.length;
    await tb.publishRaw('crash', '');
    await tb.publishRaw('echo', 'still here');
    await tb.waitFor('echoed', () => true, 5000, since);
    assert.equal(tb.count('error', since), 1);
    const err = tb.seen.slice(since).find((m) => m.topic === 'error')!.error!;
    assert.deepEqual(err, { service: 'bustest', topic: 'crash', code: 'E_INTERNAL', error: 'something unexpected', payload: '' });
    const errorLines = lines.slice(logged).filter((l) => l.level === 50);
    assert.equal(errorLines.length, 1);
    assert.match(String((errorLines[0]!.err as { stack?: string }).stack), /TypeError: something unexpected/);
  });

  test('messages for topics without a handler and for other namespaces are ignored', async () => {
    const since = tb.mark();
    await tb.publishRaw('helper', '');
    await tb.pub.publish(`${ns}x:echo`, 'other namespace');
    await tb.publishRaw('echo', 'mine');
    const echoed = await tb.waitFor('echoed', () => true, 5000, since);
    assert.deepEqual(echoed.args[0], ['mine']);
    assert.equal(tb.count('echoed', since), 1);
    assert.equal(tb.count('error', since), 0);
  });
});

// ---- a private Redis the test can restart -------------------------------------------------------

interface RedisServer {
  child: ChildProcess;
  exited: Promise<unknown>;
}

/** Starts `redis-server` on `port` without persistence; resolves once it accepts connections. */
function startRedisServer(port: number, dir: string): Promise<RedisServer> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`redis-server on port ${port} not ready in 10 s:\n${out}`)), 10000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve({ child, exited });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', fail);
    void exited.then((code) => fail(new Error(`redis-server on port ${port} exited (${code}):\n${out}`)));
  });
}

async function stopRedisServer(server: RedisServer | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 5000);
  await server.exited;
  clearTimeout(timer);
}

describe('bus across a Redis restart', () => {
  const ns = newNamespace('busr');
  const dir = mkdtempSync(join(tmpdir(), 'bitween-redis-'));
  let port: number;
  let url: string;
  let server: RedisServer | undefined;
  let bus: Bus | undefined;
  let tb: TestBus | undefined;

  before(async () => {
    port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    server = await startRedisServer(port, dir);
  });
  after(async () => {
    await bus?.close();
    await tb?.close();
    await stopRedisServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Publishes a numbered echo every 100 ms until the handler's answer to one of them comes back. */
  async function echoUntilAnswered(timeoutMs: number): Promise<void> {
    const since = tb!.mark();
    let n = 0;
    const tick = setInterval(() => void tb!.publishRaw('echo', `ping ${++n}`).catch(() => undefined), 100);
    try {
      await tb!.waitFor('echoed', (m) => /^ping \d+$/.test(String((m.args[0] as unknown[])[0])), timeoutMs, since);
    } finally {
      clearInterval(tick);
    }
  }

  test('handlers receive messages again after redis-server restarts on the same port', async () => {
    tb = await TestBus.open(ns, url);
    ({ bus } = await openBus(url, ns));
    await echoUntilAnswered(5000);

    await stopRedisServer(server);
    server = await startRedisServer(port, dir);
    // Both sides reconnect and resubscribe on their own; the bus's own publisher answers.
    await echoUntilAnswered(15000);

    // And bad input is still reported after the restart.
    const since = tb.mark();
    await tb.publishRaw('echo', '{"args": 1}');
    await tb.waitFor('error', (m) => m.error?.topic === 'echo', 5000, since);
  });

  test('close() returns promptly while Redis is down, even with a publish queued', async () => {
    // The test's own connections go first: ioredis keeps a reconnecting connection's timer for up to 2 s.
    await tb!.close();
    tb = undefined;
    await stopRedisServer(server);
    server = undefined;
    // Waits for a Redis that never comes back; ioredis leaves it pending after disconnect().
    void bus!.publish('echoed', ['never sent']).catch(() => undefined);
    const started = Date.now();
    await bus!.close();
    assert.ok(Date.now() - started < 2000, `close() took ${Date.now() - started} ms`);
  });
});

/** A bus whose handler of `hold` waits until release(): what arrives meanwhile queues behind the first message. */
async function heldBus(prefix: string): Promise<{ tb: TestBus; readonly handled: number; release(): void; close(): Promise<void> }> {
  const ns = newNamespace(prefix);
  const tb = await TestBus.open(ns);
  const { log } = capturingLogger();
  const bus = new Bus({ redisUrl: REDIS_URL, namespace: ns, service: 'bustest', log });
  let release = () => {};
  const held = new Promise<void>((r) => (release = r));
  let handled = 0;
  await bus.subscribe('hold', async () => {
    await held;
    handled++;
  });
  await bus.ready();
  return {
    tb,
    get handled() {
      return handled;
    },
    release: () => release(),
    async close() {
      release(); // close() waits for the queued handlers
      await bus.close();
      await tb.close();
    },
  };
}

describe('bus queue bound', () => {
  test('past MAX_QUEUED_BYTES waiting, messages are refused with E_BUSY at once; the queue keeps working', async () => {
    const q = await heldBus('busq');
    const { tb } = q;
    try {
      // 100 payloads of 60 KiB (~6 MiB) while the first one blocks the queue: about 16 fit in MAX_QUEUED_BYTES.
      assert.equal(MAX_QUEUED_BYTES, 1024 * 1024);
      const payload = JSON.stringify(['x'.repeat(60 * 1024 - 10)]);
      const count = 100;
      const since = tb.mark();
      await Promise.all(Array.from({ length: count }, () => tb.publishRaw('hold', payload)));
      const first = await tb.waitFor('error', (m) => m.error?.code === 'E_BUSY', 30000, since);
      assert.equal(first.error!.topic, 'hold');
      assert.match(first.error!.error, /refused unhandled, send it again later/);
      assert.ok(first.error!.payload.length < 2048, 'the report carries a head only');
      q.release();
      // Every message is either handled or refused (all were published before the first refusal was seen).
      for (let i = 0; i < 600 && q.handled + tb.count('error', since) < count; i++) await new Promise((r) => setTimeout(r, 50));
      const busy = tb.count('error', since);
      assert.ok(busy > 0 && busy < count, `${busy} refused`);
      assert.equal(q.handled + busy, count, 'every message is handled or refused');
      // Empty again: the next message is taken.
      const before = q.handled;
      await tb.publishRaw('hold', '["after"]');
      for (let i = 0; i < 200 && q.handled === before; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(q.handled, before + 1);
    } finally {
      await q.close();
    }
  });
  test('past MAX_QUEUED_MESSAGES small messages waiting, the rest are refused with E_BUSY; exactly that many are handled', async () => {
    const q = await heldBus('busn');
    const { tb } = q;
    try {
      // Small payloads, far below the byte bound: only the count refuses them. The first one, being handled, counts.
      assert.equal(MAX_QUEUED_MESSAGES, 256);
      const count = 400;
      const since = tb.mark();
      await Promise.all(Array.from({ length: count }, (_, i) => tb.publishRaw('hold', JSON.stringify([`m${i}`]))));
      for (let i = 0; i < 600 && tb.count('error', since) < count - MAX_QUEUED_MESSAGES; i++) await new Promise((r) => setTimeout(r, 50));
      const first = await tb.waitFor('error', (m) => m.error?.code === 'E_BUSY', 1000, since);
      assert.match(first.error!.error, /256 messages \(\d+ KiB\) waiting: hold refused unhandled/);
      q.release();
      for (let i = 0; i < 600 && q.handled < MAX_QUEUED_MESSAGES; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(q.handled, MAX_QUEUED_MESSAGES);
      assert.equal(tb.count('error', since), count - MAX_QUEUED_MESSAGES, 'every message past the bound is refused, no other');
    } finally {
      await q.close();
    }
  });
});
