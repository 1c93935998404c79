// Server-sent events for the page: one Redis subscription for the whole service, fanned out to every open
// /api/events stream, plus the services' status whenever it changes. The page subscribes first and loads
// the lists after the `hello` event, so nothing published in between is missed (pub/sub does not replay).
import type { ServerResponse } from 'node:http';
import { decodePayload, openSubscriber } from '../../lib/bus.js';
import { errorMessage, parseErrorReport, type ErrorReport } from '../../lib/errors.js';
import { noteRefusal } from '../../lib/flood.js';
import { HEARTBEAT_INTERVAL_MS } from '../../lib/heartbeat.js';
import type { Logger } from '../../lib/log.js';
import type { DashboardStatus } from './status.js';

/** Bus events the page follows. */
export const RELAYED_TOPICS = [
  'bt_ready',
  'torrent_added',
  'torrent_done',
  'torrent_removed',
  'torrent_error',
  'torrent_progress',
  'torrent_paused',
  'torrent_resumed',
  'limits_changed',
  'shares_updated',
  // contacts panel: a request arrived, a subscription changed; node panel: own addresses, a mapped port
  'contact_request',
  'contact_updated',
  'addresses_changed',
  'set_port',
  'error',
] as const;

/** A client that falls this far behind (a stalled tab) is dropped; it reconnects and reloads. */
const MAX_BUFFERED_BYTES = 1 << 20;
/** Comment lines keep idle streams open through proxies and let a dead client be noticed. */
const KEEPALIVE_MS = 15000;

export interface RelayedEvent {
  topic: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** On `error`: the contract's report object. */
  report?: ErrorReport;
}

/** Turns a bus message into what the page gets; undefined for payloads that break the contract. */
export function toEvent(topic: string, raw: string): RelayedEvent | undefined {
  try {
    if (topic === 'error') {
      // `error` carries an ErrorReport, not args/kwargs (the Bus could not decode it).
      const report = parseErrorReport(raw);
      return report && { topic, args: [], kwargs: {}, report };
    }
    return { topic, ...decodePayload(raw) };
  } catch {
    return undefined;
  }
}

function frame(event: string, data: unknown): string {
  // JSON.stringify leaves no raw newline in the data, so one `data:` line is always enough.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class Relay {
  private readonly clients = new Set<ServerResponse>();
  private readonly sub: ReturnType<typeof openSubscriber>;
  private readonly log: Logger;
  private lastStatus = '';
  private statusTimer: NodeJS.Timeout | undefined;
  private readonly keepalive: NodeJS.Timeout;

  constructor(
    redisUrl: string,
    private readonly namespace: string,
    log: Logger,
    private readonly readStatus: () => Promise<DashboardStatus>,
  ) {
    this.log = log.child({ component: 'relay' });
    // The bus's subscriber: a payload over the bus's limit arrives as its head only (never relayed).
    this.sub = openSubscriber(redisUrl, 'bitween-web-events');
    let lost = false;
    this.sub.on('error', (err) => {
      lost = true;
      this.log.debug({ err: errorMessage(err) }, 'events connection: retrying');
    });
    // Back after an outage: events in the gap are gone, so a new `hello` makes every page load its lists
    // again — once ioredis has resubscribed (it queues that right after 'ready'; a PING answers after it).
    this.sub.on('ready', () => {
      if (!lost) return;
      lost = false;
      setImmediate(() => {
        this.sub.ping().then(
          () => this.broadcast(frame('hello', { namespace: this.namespace, topics: RELAYED_TOPICS })),
          () => undefined,
        );
      });
    });
    this.sub.on('message', (channel: string, payload: Buffer, bytes: number) => {
      if (bytes > payload.length) {
        noteRefusal();
        this.log.debug({ channel, bytes }, 'not relayed: payload over the size limit');
      } else this.receive(channel, payload.toString());
    });
    this.keepalive = setInterval(() => this.broadcast(': keepalive\n\n'), KEEPALIVE_MS);
    this.keepalive.unref();
  }

  async start(): Promise<void> {
    // A SUBSCRIBE sent before ioredis's ready check breaks that check (see Bus.subscribe): wait for ready.
    if (this.sub.status !== 'ready') await new Promise<void>((resolve) => this.sub.once('ready', () => resolve()));
    await this.sub.subscribe(...RELAYED_TOPICS.map((t) => `${this.namespace}:${t}`));
  }

  get count(): number {
    return this.clients.size;
  }

  /** Takes over a response as an event stream until the client goes. */
  add(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    });
    this.clients.add(res);
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.stopStatus();
    });
    res.write(frame('hello', { namespace: this.namespace, topics: RELAYED_TOPICS }));
    this.startStatus();
  }

  private receive(channel: string, raw: string): void {
    const topic = channel.slice(this.namespace.length + 1);
    const event = toEvent(topic, raw);
    if (!event) {
      noteRefusal();
      this.log.debug({ topic, payload: raw.slice(0, 200) }, 'not relayed: payload breaks the contract');
      return;
    }
    this.broadcast(frame('bus', event));
  }

  private broadcast(text: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        this.log.warn('an event stream fell behind: closing it (the page reconnects)');
        res.destroy();
        continue;
      }
      res.write(text);
    }
  }

  /** Heartbeats are Redis keys, not messages: poll them at their own pace while someone watches. */
  private startStatus(): void {
    this.lastStatus = ''; // a new client gets the current status at once
    if (this.statusTimer) {
      void this.pushStatus();
      return;
    }
    const tick = () => void this.pushStatus();
    tick();
    this.statusTimer = setInterval(tick, HEARTBEAT_INTERVAL_MS);
    this.statusTimer.unref();
  }

  private stopStatus(): void {
    clearInterval(this.statusTimer);
    this.statusTimer = undefined;
  }

  private async pushStatus(): Promise<void> {
    try {
      const status = await this.readStatus();
      const text = JSON.stringify(status);
      if (text === this.lastStatus) return;
      this.lastStatus = text;
      this.broadcast(frame('status', status));
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'status not read');
    }
  }

  /** Ends every stream (an open stream would hold the HTTP server's close forever). */
  endStreams(): void {
    this.stopStatus();
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  async close(): Promise<void> {
    this.endStreams();
    clearInterval(this.keepalive);
    // With Redis away quit() would wait for it forever: just drop the connection.
    if (this.sub.status !== 'ready') {
      this.sub.disconnect();
      return;
    }
    try {
      await this.sub.quit();
    } catch {
      this.sub.disconnect();
    }
  }
}
