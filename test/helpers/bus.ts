// A test's view of a namespace: records every message on `<ns>:*` and waits for the one it needs.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { decodePayload, encodePayload } from '../../lib/bus.js';
import type { ErrorReport } from '../../lib/errors.js';

export const REDIS_URL = process.env.BITWEEN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Seen {
  topic: string;
  raw: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** The parsed payload of `error` messages, as sent (not normalised, so a test sees a missing field). */
  error?: ErrorReport;
}

export function newNamespace(prefix = 't'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export class TestBus {
  readonly seen: Seen[] = [];
  private readonly waiters = new Set<{ match: (m: Seen) => boolean; resolve: (m: Seen) => void }>();
  private readonly sub: Redis;
  readonly pub: Redis;

  private constructor(readonly namespace: string, redisUrl: string) {
    this.sub = new Redis(redisUrl);
    this.pub = new Redis(redisUrl);
    // Tests that restart Redis expect connection errors; ioredis retries on its own.
    for (const r of [this.sub, this.pub]) r.on('error', () => undefined);
    this.sub.on('pmessage', (_p, channel: string, raw: string) => this.record(channel.slice(namespace.length + 1), raw));
  }

  static async open(namespace: string, redisUrl = REDIS_URL): Promise<TestBus> {
    const bus = new TestBus(namespace, redisUrl);
    await bus.sub.psubscribe(`${namespace}:*`);
    return bus;
  }

  private record(topic: string, raw: string): void {
    let m: Seen;
    try {
      // `error` payloads are the contract's ErrorReport object, not args/kwargs.
      if (topic === 'error') m = { topic, raw, args: [], kwargs: {}, error: JSON.parse(raw) as ErrorReport };
      else m = { topic, raw, ...decodePayload(raw) };
    } catch {
      m = { topic, raw, args: [], kwargs: {} };
    }
    this.seen.push(m);
    for (const w of this.waiters) {
      if (w.match(m)) {
        this.waiters.delete(w);
        w.resolve(m);
      }
    }
  }

  /** Publishes a raw payload exactly as redis-cli would. */
  async publishRaw(topic: string, raw: string): Promise<void> {
    await this.pub.publish(`${this.namespace}:${topic}`, raw);
  }

  async publish(topic: string, args: unknown[] = [], kwargs?: Record<string, unknown>): Promise<void> {
    await this.publishRaw(topic, encodePayload(args, kwargs));
  }

  /** Resolves with the first message (already seen since `since`, or future) matching; rejects after timeoutMs. */
  waitFor(topic: string, match: (m: Seen) => boolean = () => true, timeoutMs = 15000, since = 0): Promise<Seen> {
    const test = (m: Seen) => m.topic === topic && match(m);
    const already = this.seen.slice(since).find(test);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const waiter = { match: test, resolve: (m: Seen) => { clearTimeout(timer); resolve(m); } };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const recent = this.seen.slice(-8).map((s) => `${s.topic} ${s.raw.slice(0, 160)}`).join('\n  ');
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${this.namespace}:${topic}; last messages:\n  ${recent}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** Index to pass as `since` so that only messages after this point count. */
  mark(): number {
    return this.seen.length;
  }

  count(topic: string, since = 0): number {
    return this.seen.slice(since).filter((m) => m.topic === topic).length;
  }

  async close(): Promise<void> {
    this.sub.disconnect();
    this.pub.disconnect();
  }
}
