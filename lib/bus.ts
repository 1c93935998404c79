// The topic bus: Redis pub/sub, channel `<namespace>:<topic>`, payloads as the contract defines them.
// A publisher and a subscriber are separate connections (a subscribed connection can do nothing else).
// Both reconnect forever and the subscriber resubscribes on its own; messages published while Redis was away
// are lost, which is why services read current state from the store on start. The subscriber is bitween's
// own (lib/subscriber.ts): it skips a payload over MAX_PAYLOAD_BYTES as it streams in instead of assembling it.
import type { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { BadInputError, BitweenError, BusyError, MAX_REPORT_PAYLOAD_BYTES, TooDeepError, TooLargeError, buildErrorReport, errorMessage, type ErrorReport } from './errors.js';
import type { Logger } from './log.js';
import { noteRefusal } from './flood.js';
import { Subscriber } from './subscriber.js';
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
 * Limits on what a subscriber takes from the bus, checked before anything is parsed: a hostile payload
 * costs a length check or one linear scan, not a parse tree (a 1 MiB array of arrays) or a recursion.
 * The largest legitimate payload (a path, a list of addresses) is far below both.
 */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
export const MAX_PAYLOAD_DEPTH = 32;

/**
 * Messages waiting their turn (received, not yet handled) are held whole: without a bound a flood of 10,000
 * payloads of 64 KiB could hold 640 MiB. Past MAX_QUEUED_BYTES waiting (each message counted as its payload
 * plus QUEUED_MESSAGE_COST for its closure, promise and decoded text) or MAX_QUEUED_MESSAGES, a new message is
 * refused unhandled with E_BUSY (reported like any refusal). 1 MiB is 16 payloads at the size limit.
 *
 * Both bounds are for the peak under a flood: whatever waits survives V8's young-generation collections and is
 * promoted, and that survival is what makes V8 grow its heap. Torrent service, 10,000 fuzzed payloads (the
 * flood of bench:fuzz), peak RSS over RSS at rest: with 4 MiB alone ~4,000 small payloads could wait, 1.54–1.86×;
 * 4 MiB and 256 messages 1.38–1.47×; with semi-spaces of 8 MiB (ecosystem.config.js) 4 MiB and 256 messages
 * 1.46×, 1 MiB and 256 messages 1.26–1.33×, and fewer refused (E_BUSY 1,000–1,700 of 10,000 instead of 3,000:
 * less garbage, handled faster). A sender that waits for each answer (the CLI, the dashboard) never meets
 * either bound.
 */
export const MAX_QUEUED_BYTES = 1024 * 1024;
export const MAX_QUEUED_MESSAGES = 256;
const QUEUED_MESSAGE_COST = 1024;

/** The refusal of a payload of `bytes` (UTF-8) over MAX_PAYLOAD_BYTES; undefined when it is within. */
function tooLarge(bytes: number): TooLargeError | undefined {
  if (bytes <= MAX_PAYLOAD_BYTES) return undefined;
  return new TooLargeError(`payload is ${bytes} bytes, over the limit of ${MAX_PAYLOAD_BYTES}: send a path or a hash, not the data`);
}

/**
 * Refuses JSON nested deeper than MAX_PAYLOAD_DEPTH (E_TOO_DEEP): counts brackets outside strings in one
 * pass, without parsing (malformed text is left for JSON.parse to refuse).
 */
export function checkDepth(text: string, limit = MAX_PAYLOAD_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) throw new TooDeepError(`payload is nested deeper than ${limit} levels: refused unparsed`);
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
}

/**
 * Payload forms: `{"args": [...], "kwargs": {...}}` (either key optional), a JSON array (the positional
 * args), anything else one string argument, an empty payload no arguments. Text that starts like JSON
 * but does not parse is an error rather than a string, so a typo in redis-cli is reported, not obeyed.
 * Over MAX_PAYLOAD_BYTES or MAX_PAYLOAD_DEPTH it is refused before parsing (E_TOO_LARGE, E_TOO_DEEP).
 */
export function decodePayload(raw: string): { args: unknown[]; kwargs: Record<string, unknown> } {
  // UTF-8 takes at least one byte per UTF-16 unit: only a payload near the limit needs counting.
  if (raw.length > MAX_PAYLOAD_BYTES / 3) {
    const refused = tooLarge(raw.length > MAX_PAYLOAD_BYTES ? raw.length : Buffer.byteLength(raw));
    if (refused) throw refused;
  }
  const text = raw.trim();
  if (text === '') return { args: [], kwargs: {} };
  if (!text.startsWith('{') && !text.startsWith('[')) return { args: [raw], kwargs: {} };
  checkDepth(text);
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

/**
 * A subscriber for bus topics: payloads over MAX_PAYLOAD_BYTES arrive as their first bytes (enough for a
 * report's 1 KiB) and their size, never whole. The services' back-off.
 */
export function openSubscriber(redisUrl: string, connectionName: string): Subscriber {
  return new Subscriber({
    url: redisUrl,
    connectionName,
    maxPayloadBytes: MAX_PAYLOAD_BYTES,
    headBytes: 2 * MAX_REPORT_PAYLOAD_BYTES,
    retryStrategy: SERVICE_REDIS_OPTIONS.retryStrategy,
  });
}

export class Bus {
  readonly namespace: string;
  private readonly service: string;
  private readonly log: Logger;
  private readonly pub: Redis;
  private readonly sub: Subscriber;
  private readonly handlers = new Map<string, { fn: Handler; immediate: boolean }>();
  /** Messages are handled one at a time, in order, like the thesis's queue (except `immediate` topics). */
  private queue: Promise<void> = Promise.resolve();
  /** What waits in `queue` (MAX_QUEUED_BYTES, MAX_QUEUED_MESSAGES), and how many were refused since it was last empty. */
  private queuedBytes = 0;
  private queuedMessages = 0;
  private refusedBusy = 0;
  private closing: Promise<void> | undefined;

  constructor(opts: BusOptions) {
    this.namespace = opts.namespace;
    this.service = opts.service;
    this.log = opts.log.child({ component: 'bus' });
    this.pub = new Redis(opts.redisUrl, { ...SERVICE_REDIS_OPTIONS, connectionName: `bitween-${this.service}-pub` });
    this.sub = openSubscriber(opts.redisUrl, `bitween-${this.service}-sub`);
    this.watch(this.pub, opts.redisUrl, 'pub');
    this.watch(this.sub, opts.redisUrl, 'sub');
    this.sub.on('message', (channel: string, payload: Buffer, bytes: number) => this.receive(channel, payload, bytes));
  }

  private watch(connection: EventEmitter, url: string, role: string): void {
    let down = false;
    connection.on('error', (err) => {
      // An error comes per failed attempt; say it once per outage.
      if (!down) this.log.warn({ role, err: errorMessage(err) }, `Redis unreachable at ${url}: retrying (is redis-server running?)`);
      down = true;
    });
    connection.on('ready', () => {
      if (down) this.log.info({ role }, 'Redis reachable again');
      down = false;
    });
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

  /**
   * Reports bad input on `<namespace>:error` (an ErrorReport: code, one line, at most 1 KiB of `payload`) and
   * in the log; never throws. `infoHash`: the torrent concerned, when there is one.
   */
  async publishError(topic: string, err: unknown, payload = '', infoHash?: string): Promise<void> {
    await this.report(topic, err, payload, infoHash);
  }

  /** publishError for a payload of which only a head was kept (`payloadBytes`: the size received). */
  private async report(topic: string, err: unknown, payload: string, infoHash?: string, payloadBytes?: number): Promise<void> {
    noteRefusal();
    const report: ErrorReport = buildErrorReport({ service: this.service, topic, err, payload, payloadBytes, infoHash });
    const fields = { topic, code: report.code, infoHash, payload: report.payload.slice(0, 200) };
    if (err instanceof BitweenError) this.log.warn(fields, `${topic}: ${report.error}`);
    else this.log.error({ ...fields, err }, `${topic}: ${report.error}`);
    // An error about an `error` message would be received again and loop forever: log it only.
    if (topic === 'error') return;
    try {
      await this.pub.publish(this.channel('error'), JSON.stringify(report));
    } catch (pubErr) {
      this.log.warn({ err: pubErr }, 'could not publish the error');
    }
  }

  async subscribe(topic: string, fn: Handler, options: { immediate?: boolean } = {}): Promise<void> {
    this.handlers.set(topic, { fn, immediate: options.immediate ?? false });
    // Before the connection is ready, the channel is subscribed with the others once it is.
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

  /** `payload`: all of it, or its head when `bytes` is over the limit (the subscriber skipped the rest). */
  private receive(channel: string, payload: Buffer, bytes: number): void {
    const topic = channel.slice(this.namespace.length + 1);
    const entry = this.handlers.get(topic);
    if (!channel.startsWith(`${this.namespace}:`) || !entry) return;
    const cost = QUEUED_MESSAGE_COST + payload.length;
    if (!entry.immediate && (this.queuedBytes + cost > MAX_QUEUED_BYTES || this.queuedMessages >= MAX_QUEUED_MESSAGES)) {
      // Refused at once, not queued (a queue of refusals would grow without bound too): this report may come
      // before those of messages still waiting.
      if (this.refusedBusy++ === 0) this.log.warn({ queuedBytes: this.queuedBytes, queuedMessages: this.queuedMessages }, `bus queue full (${this.queuedMessages} messages, ${this.queuedBytes} bytes waiting): refusing messages with E_BUSY until it empties`);
      const busy = new BusyError(`${this.service} has ${this.queuedMessages} messages (${Math.ceil(this.queuedBytes / 1024)} KiB) waiting: ${topic} refused unhandled, send it again later`);
      void this.report(topic, busy, payload.subarray(0, 2 * MAX_REPORT_PAYLOAD_BYTES).toString(), undefined, bytes);
      return;
    }
    // Too large: refused unread, with only a head for the report, so that a queue of big payloads waiting
    // their turn cannot build up either.
    let run: () => Promise<void>;
    const refused = tooLarge(bytes);
    if (refused) {
      const head = payload.toString();
      run = () => this.report(topic, refused, head, undefined, bytes);
    } else {
      const raw = payload.toString();
      run = () => this.dispatch(topic, raw, entry.fn);
    }
    if (entry.immediate) {
      void run();
      return;
    }
    this.queuedBytes += cost;
    this.queuedMessages++;
    this.queue = this.queue.then(run).finally(() => this.dequeued(cost));
  }

  private dequeued(cost: number): void {
    this.queuedBytes -= cost;
    this.queuedMessages--;
    if (this.queuedMessages === 0 && this.refusedBusy > 0) {
      this.log.warn({ refused: this.refusedBusy }, `bus queue empty again: ${this.refusedBusy} messages were refused with E_BUSY`);
      this.refusedBusy = 0;
    }
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
