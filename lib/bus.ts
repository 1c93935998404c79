// The topic bus: Redis pub/sub, channel `<namespace>:<topic>`, payloads as the contract defines them.
// A publisher and a subscriber are separate connections (a subscribed connection can do nothing else).
// ioredis reconnects forever and resubscribes on its own (autoResubscribe); messages published while
// Redis was away are lost, which is why services read current state from the store on start.
import { Redis } from 'ioredis';
import { BadInputError, BitweenError, errorMessage } from './errors.js';
import type { Logger } from './log.js';
import { within } from './within.js';

export interface Message {
  readonly topic: string;
  readonly args: unknown[];
  readonly kwargs: Record<string, unknown>;
  /** The payload as it came over the wire. */
  readonly raw: string;
}

export type Handler = (msg: Message) => unknown;

export interface BusOptions {
  redisUrl: string;
  namespace: string;
  service: string;
  log: Logger;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Payload forms: `{"args": [...], "kwargs": {...}}` (either key optional), a JSON array (the positional
 * args), anything else one string argument, an empty payload no arguments. Text that starts like JSON
 * but does not parse is an error rather than a string, so a typo in redis-cli is reported, not obeyed.
 */
export function decodePayload(raw: string): { args: unknown[]; kwargs: Record<string, unknown> } {
  const text = raw.trim();
  if (text === '') return { args: [], kwargs: {} };
  if (!text.startsWith('{') && !text.startsWith('[')) return { args: [raw], kwargs: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`payload is not valid JSON: ${errorMessage(err)}`);
  }
  if (Array.isArray(value)) return { args: value, kwargs: {} };
  if (!isPlainObject(value)) throw new BadInputError('payload must be a JSON object or array');
  const extra = Object.keys(value).filter((k) => k !== 'args' && k !== 'kwargs');
  if (extra.length > 0) throw new BadInputError(`payload object may hold only "args" and "kwargs", not "${extra[0]}"`);
  const args = value.args ?? [];
  const kwargs = value.kwargs ?? {};
  if (!Array.isArray(args)) throw new BadInputError('payload "args" must be a JSON array');
  if (!isPlainObject(kwargs)) throw new BadInputError('payload "kwargs" must be a JSON object');
  return { args, kwargs };
}

export function encodePayload(args: unknown[] = [], kwargs?: Record<string, unknown>): string {
  return JSON.stringify(kwargs && Object.keys(kwargs).length > 0 ? { args, kwargs } : { args });
}

/** Services outlive Redis outages: commands wait in the queue, reconnects back off up to 5 s. */
export const SERVICE_REDIS_OPTIONS = {
  maxRetriesPerRequest: null,
  retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
} as const;

/** How long close() waits for Redis to answer before it drops the connection. */
const REPLY_WAIT_MS = 1000;

export class Bus {
  readonly namespace: string;
  private readonly service: string;
  private readonly log: Logger;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly handlers = new Map<string, { fn: Handler; immediate: boolean }>();
  /** Messages are handled one at a time, in order, like the thesis's queue (except `immediate` topics). */
  private queue: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;

  constructor(opts: BusOptions) {
    this.namespace = opts.namespace;
    this.service = opts.service;
    this.log = opts.log.child({ component: 'bus' });
    this.pub = this.connect(opts.redisUrl, 'pub');
    this.sub = this.connect(opts.redisUrl, 'sub');
    this.sub.on('messageBuffer', (channel: Buffer, payload: Buffer) => this.receive(channel.toString(), payload.toString()));
  }

  private connect(url: string, role: string): Redis {
    const redis = new Redis(url, { ...SERVICE_REDIS_OPTIONS, connectionName: `bitween-${this.service}-${role}` });
    let down = false;
    redis.on('error', (err) => {
      // ioredis emits an error per failed attempt; say it once per outage.
      if (!down) this.log.warn({ role, err: errorMessage(err) }, `Redis unreachable at ${url}: retrying (is redis-server running?)`);
      down = true;
    });
    redis.on('ready', () => {
      if (down) this.log.info({ role }, 'Redis reachable again');
      down = false;
    });
    return redis;
  }

  /** The publishing connection, for plain commands (state keys, heartbeats). */
  get redis(): Redis {
    return this.pub;
  }

  channel(topic: string): string {
    return `${this.namespace}:${topic}`;
  }

  /** Resolves once the subscriber is connected (or at once when it already is). */
  async ready(): Promise<void> {
    await Promise.all([this.pub.ping(), this.sub.ping()]);
  }

  async publish(topic: string, args: unknown[] = [], kwargs?: Record<string, unknown>): Promise<void> {
    await this.pub.publish(this.channel(topic), encodePayload(args, kwargs));
  }

  /** Reports bad input on `<namespace>:error` and in the log; never throws. */
  async publishError(topic: string, err: unknown, payload: string): Promise<void> {
    const error = errorMessage(err);
    const expected = err instanceof BitweenError;
    if (expected) this.log.warn({ topic, payload: payload.slice(0, 200) }, `${topic}: ${error}`);
    else this.log.error({ topic, payload: payload.slice(0, 200), err }, `${topic}: ${error}`);
    // An error about an `error` message would be received again and loop forever: log it only.
    if (topic === 'error') return;
    try {
      await this.pub.publish(this.channel('error'), JSON.stringify({ service: this.service, topic, error, payload }));
    } catch (pubErr) {
      this.log.warn({ err: errorMessage(pubErr) }, 'could not publish the error');
    }
  }

  async subscribe(topic: string, fn: Handler, options: { immediate?: boolean } = {}): Promise<void> {
    this.handlers.set(topic, { fn, immediate: options.immediate ?? false });
    // ioredis 5.11 writes a SUBSCRIBE issued between TCP connect and its ready check (CLIENT SETINFO, then
    // INFO) at once; the INFO then fails with "Connection in subscriber mode" and start-up dies. Seen when
    // Postgres answers faster than Redis (unix socket). Later reconnects resubscribe on their own.
    if (this.sub.status !== 'ready') await new Promise<void>((resolve) => this.sub.once('ready', () => resolve()));
    await this.sub.subscribe(this.channel(topic));
  }

  /** Subscribes every `on_<topic>` method of `target` (the thesis's autosubscribe). */
  async serve(target: object, options: { immediate?: string[] } = {}): Promise<string[]> {
    const topics: string[] = [];
    for (let proto = Object.getPrototypeOf(target); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        const fn = (target as Record<string, unknown>)[name];
        if (name.startsWith('on_') && typeof fn === 'function' && !topics.includes(name.slice(3))) topics.push(name.slice(3));
      }
    }
    for (const topic of topics) {
      const fn = (target as Record<string, Handler>)[`on_${topic}`]!.bind(target);
      await this.subscribe(topic, fn, { immediate: options.immediate?.includes(topic) });
    }
    return topics;
  }

  /** Stops taking messages; handlers already queued still run. */
  async unsubscribeAll(): Promise<void> {
    this.handlers.clear();
    if (this.sub.status === 'ready') await within(this.sub.unsubscribe().catch(() => undefined), REPLY_WAIT_MS, undefined);
  }

  /** Resolves when every message received so far has been handled. */
  drain(): Promise<void> {
    return this.queue;
  }

  private receive(channel: string, raw: string): void {
    const topic = channel.slice(this.namespace.length + 1);
    const entry = this.handlers.get(topic);
    if (!channel.startsWith(`${this.namespace}:`) || !entry) return;
    const run = () => this.dispatch(topic, raw, entry.fn);
    if (entry.immediate) void run();
    else this.queue = this.queue.then(run);
  }

  private async dispatch(topic: string, raw: string, fn: Handler): Promise<void> {
    try {
      const { args, kwargs } = decodePayload(raw);
      await fn({ topic, args, kwargs, raw });
    } catch (err) {
      await this.publishError(topic, err, raw);
    }
  }

  /** Idempotent: a second call waits on the same work. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.unsubscribeAll();
      await this.queue.catch(() => undefined);
      for (const redis of [this.sub, this.pub]) {
        // quit() waits behind queued commands, and those wait for Redis forever (maxRetriesPerRequest:
        // null); Redis may also go away between the status check and the reply. Then drop the connection
        // rather than hang the shutdown (what is still queued is never sent).
        const quit = redis.status === 'ready' && (await within(redis.quit().then(() => true, () => false), REPLY_WAIT_MS, false));
        if (!quit) redis.disconnect();
      }
    })();
    return this.closing;
  }
}
