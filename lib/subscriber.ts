// A Redis pub/sub subscriber that never assembles a payload over a size limit. ioredis's parser joins a large
// message into a shared buffer pool that grows by three times the message each time (3, 6, 9 … 21 MiB after
// a few dozen 1 MiB messages, measured) and keeps the newest pool alive while idle: a flood of refused 1 MiB
// payloads lifted a service's RSS from 70 to 150 MiB. Here RESP is read as it streams in; a bulk string over
// `maxPayloadBytes` is skipped chunk by chunk, keeping only its head and its size. Reconnects with the
// services' back-off and resubscribes; what is published while disconnected is lost (as with ioredis).
// Only what a subscriber needs: AUTH, CLIENT SETNAME, SUBSCRIBE, UNSUBSCRIBE, PING, QUIT (RESP2).
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** A bulk string over the limit: its first bytes and its size. */
export interface Skipped {
  skipped: true;
  head: Buffer;
  bytes: number;
}

type Value = string | number | null | Buffer | Skipped | Error | Value[];

/** One read from the socket at most (what Node's own reads take). */
const READ_BUFFER_BYTES = 64 * 1024;

/** A protocol header line is a type byte, a number or a short status: more is not Redis speaking. */
const MAX_LINE = 64 * 1024;

/** Incremental RESP2 reader; `onValue` gets each complete top-level value. */
export class RespReader {
  private pending: Buffer | undefined;
  private bulk: { size: number; got: number; parts: Buffer[]; kept: number; keep: boolean } | undefined;
  private readonly stack: { items: Value[]; left: number }[] = [];

  constructor(
    private readonly maxBulk: number,
    private readonly headBytes: number,
    private readonly onValue: (v: Value) => void,
  ) {}

  /** Throws on a protocol error (the connection is then useless). */
  feed(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.bulk) {
        at = this.readBulk(chunk, at);
        continue;
      }
      const nl = chunk.indexOf(10, at);
      if (nl === -1) {
        // Copied: a slice would keep the whole socket chunk alive.
        this.pending = Buffer.concat(this.pending ? [this.pending, chunk.subarray(at)] : [chunk.subarray(at)]);
        if (this.pending.length > MAX_LINE) throw new Error('Redis protocol error: header line too long');
        return;
      }
      const line = this.pending ? Buffer.concat([this.pending, chunk.subarray(at, nl + 1)]) : chunk.subarray(at, nl + 1);
      this.pending = undefined;
      at = nl + 1;
      this.readLine(line.toString('latin1', 0, line.length - 2), line[0]!);
    }
  }

  private readLine(text: string, type: number): void {
    const rest = text.slice(1);
    switch (type) {
      case 0x2b: // + simple string
        return this.push(rest);
      case 0x2d: // - error
        return this.push(new Error(rest));
      case 0x3a: // : integer
        return this.push(Number(rest));
      case 0x24: {
        // $ bulk string
        const size = Number(rest);
        if (!Number.isInteger(size) || size < -1) throw new Error(`Redis protocol error: bulk length ${rest}`);
        if (size === -1) return this.push(null);
        this.bulk = { size, got: 0, parts: [], kept: 0, keep: size <= this.maxBulk };
        return;
      }
      case 0x2a: {
        // * array
        const n = Number(rest);
        if (!Number.isInteger(n) || n < -1) throw new Error(`Redis protocol error: array length ${rest}`);
        if (n === -1) return this.push(null);
        if (n === 0) return this.push([]);
        this.stack.push({ items: [], left: n });
        return;
      }
      default:
        throw new Error(`Redis protocol error: unexpected ${JSON.stringify(text.slice(0, 20))}`);
    }
  }

  /** Takes what `chunk` holds of the bulk string in progress (data, then CRLF); returns the new offset. */
  private readBulk(chunk: Buffer, at: number): number {
    const b = this.bulk!;
    const take = Math.min(b.size + 2 - b.got, chunk.length - at);
    const data = Math.max(0, Math.min(take, b.size - b.got));
    const want = b.keep ? data : Math.min(data, this.headBytes - b.kept);
    if (want > 0) {
      b.parts.push(Buffer.from(chunk.subarray(at, at + want)));
      b.kept += want;
    }
    b.got += take;
    if (b.got === b.size + 2) {
      this.bulk = undefined;
      const kept = b.parts.length === 1 ? b.parts[0]! : Buffer.concat(b.parts);
      this.push(b.keep ? kept : { skipped: true, head: kept, bytes: b.size });
    }
    return at + take;
  }

  private push(v: Value): void {
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) return this.onValue(v);
      top.items.push(v);
      if (--top.left > 0) return;
      this.stack.pop();
      v = top.items;
    }
  }
}

export interface SubscriberOptions {
  url: string;
  connectionName: string;
  /** Payloads over this are not kept: `message` gets their head and size. */
  maxPayloadBytes: number;
  /** How much of a payload over the limit is kept. */
  headBytes: number;
  /** Milliseconds before reconnect attempt `times` (1, 2, …). */
  retryStrategy: (times: number) => number;
}

interface Pending {
  left: number;
  resolve: (v: Value) => void;
  reject: (err: Error) => void;
}

/**
 * Events: `message` (channel: string, payload: Buffer, bytes: number) — `payload` is all of it, or only its
 * head when `bytes` is over the limit; `ready` (connected and subscribed again); `error` (err).
 */
export class Subscriber extends EventEmitter {
  status: 'connecting' | 'ready' | 'reconnecting' | 'end' = 'connecting';
  private socket: Socket | undefined;
  private readonly channels = new Set<string>();
  private pending: Pending[] = [];
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SubscriberOptions) {
    super();
    this.open();
  }

  private open(): void {
    const url = new URL(this.opts.url);
    const host = url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    const port = Number(url.port || 6379);
    const reader = new RespReader(this.opts.maxPayloadBytes, this.opts.headBytes, (v) => this.onValue(v));
    const feed = (chunk: Buffer) => {
      try {
        reader.feed(chunk);
      } catch (err) {
        this.emit('error', err);
        socket.destroy();
      }
    };
    const readBuffer = Buffer.alloc(READ_BUFFER_BYTES);
    // Plain TCP reads into one buffer of ours, reused for every read (the reader copies what it keeps): a
    // 1 MiB payload costs no allocation at all instead of sixteen 64 KiB chunks left for the GC.
    const socket: Socket =
      url.protocol === 'rediss:'
        ? tlsConnect({ host, port, servername: host }).on('data', feed)
        : connect({ host, port, onread: { buffer: readBuffer, callback: (n) => (feed(readBuffer.subarray(0, n)), true) } });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    socket.on(url.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => void this.handshake(url));
    socket.on('error', (err) => this.emit('error', err));
    socket.on('close', () => {
      const pending = this.pending;
      this.pending = [];
      for (const p of pending) p.reject(new Error('Connection closed'));
      if (this.status === 'end') return;
      this.status = 'reconnecting';
      this.retryTimer = setTimeout(() => this.open(), this.opts.retryStrategy(++this.attempts));
    });
  }

  private async handshake(url: URL): Promise<void> {
    try {
      const password = decodeURIComponent(url.password);
      const user = decodeURIComponent(url.username);
      if (password) await this.command(user ? ['AUTH', user, password] : ['AUTH', password]);
      await this.command(['CLIENT', 'SETNAME', this.opts.connectionName]);
      if (this.channels.size > 0) await this.command(['SUBSCRIBE', ...this.channels], this.channels.size);
      this.attempts = 0;
      this.status = 'ready';
      this.emit('ready');
    } catch (err) {
      this.emit('error', err);
      this.socket?.destroy();
    }
  }

  private onValue(v: Value): void {
    if (Array.isArray(v) && v.length === 3 && String(v[0]) === 'message') {
      const payload = v[2];
      if (Buffer.isBuffer(payload)) this.emit('message', String(v[1]), payload, payload.length);
      else if (payload && typeof payload === 'object' && 'skipped' in payload) this.emit('message', String(v[1]), payload.head, payload.bytes);
      return;
    }
    const head = this.pending[0];
    if (!head) return;
    if (v instanceof Error) {
      this.pending.shift();
      head.reject(v);
    } else if (--head.left === 0) {
      this.pending.shift();
      head.resolve(v);
    }
  }

  /** Sends one command; resolves with its last reply (`replies`: how many it gets, one per channel for SUBSCRIBE). */
  private command(args: string[], replies = 1): Promise<Value> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(new Error('Connection is closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ left: replies, resolve, reject });
      let text = `*${args.length}\r\n`;
      for (const a of args) text += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
      socket.write(text);
    });
  }

  private untilReady(): Promise<void> {
    if (this.status === 'ready') return Promise.resolve();
    if (this.status === 'end') return Promise.reject(new Error('Connection is closed'));
    return new Promise((resolve) => this.once('ready', () => resolve()));
  }

  /** Subscribes now, or with the next connection. */
  async subscribe(...channels: string[]): Promise<void> {
    const fresh = channels.filter((c) => !this.channels.has(c));
    for (const c of fresh) this.channels.add(c);
    if (this.status !== 'ready') return this.untilReady();
    if (fresh.length > 0) await this.command(['SUBSCRIBE', ...fresh], fresh.length);
  }

  async unsubscribe(): Promise<void> {
    const count = this.channels.size;
    this.channels.clear();
    if (this.status === 'ready') await this.command(['UNSUBSCRIBE'], Math.max(1, count));
  }

  async ping(): Promise<void> {
    await this.untilReady();
    await this.command(['PING']);
  }

  /** Ends the connection politely (QUIT); disconnect() when Redis may not answer. */
  async quit(): Promise<void> {
    const ready = this.status === 'ready';
    this.status = 'end';
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    if (ready) await this.command(['QUIT']).catch(() => undefined);
    socket.end();
    await closed;
  }

  disconnect(): void {
    this.status = 'end';
    clearTimeout(this.retryTimer);
    this.socket?.destroy();
  }
}
