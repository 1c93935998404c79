// The one loop that owns all NAT timing (the shape of Syncthing's lib/nat/service.go): find a router, map
// the torrent port, renew at half the granted lifetime, back off after a failure, move the mapping when the
// port changes, remove it on close. Every router request goes through here, one at a time.
import { createHash } from 'node:crypto';
import { UnavailableError, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { NatMappingState } from '../../lib/store/state.js';
import { RouterRefusal, withTimeout, type Grant, type Mapper } from './mapper.js';

export const RETRY_MIN_MS = 1000;
/** A router that went away is looked for again at least this often. */
export const RETRY_MAX_MS = 5 * 60_000;
/** The external address can change without the mapping failing (UPnP does not say): ask again this often. */
export const IP_CHECK_MS = 10 * 60_000;
/** How long close() waits for a request in flight before removing the mapping. */
const CLOSE_WAIT_MS = 2000;
/** Bounds the removal on close (a router being rediscovered may take a few requests), below the 8 s shutdown deadline. */
const CLOSE_UNMAP_MS = 4000;

export interface ActiveMapping extends Grant {
  externalIp: string | null;
  grantedAt: number;
  expiresAt: number;
  renewAt: number;
}

/** A mapping that may still exist on the router (from an earlier run, or the port before a move). */
export interface OldMapping {
  internalPort: number;
  externalPort: number;
  /** When its lease ends (ms): after that the router has dropped it and the port may be someone else's. */
  expiresAt?: number;
}

export interface LoopEvents {
  /** A mapping for a new port, or on a new external port, is in place: announce it (`set_port`). */
  mapped(m: ActiveMapping): Promise<void>;
  /** What the router says its external IPv4 is (undefined when no router answers). */
  externalIp(ip: string | undefined): Promise<void>;
  /** Anything `bitween status` shows may have changed. */
  status(s: NatMappingState): Promise<void>;
}

export interface LoopOptions {
  /** In the order to try them; empty when both protocols are off. */
  mappers: Mapper[];
  lifetimeSeconds: number;
  description: string;
  log: Logger;
  events: LoopEvents;
  /** The mapping an earlier run left (from the store): asked for again, or removed once a new one is in place. */
  previous?: OldMapping;
}

/**
 * Ports to ask for after the preferred ones, derived from the internal port and the description so that a
 * restart asks for the same ones (as Syncthing derives them from the device ID). Only UPnP uses them, on conflict.
 */
export function fallbackPorts(internalPort: number, description: string, count = 2): number[] {
  const digest = createHash('sha1').update(`${description}:${internalPort}`).digest();
  return Array.from({ length: count }, (_, i) => 1024 + (digest.readUInt16BE(i * 2) % (65536 - 1024)));
}

export class RenewLoop {
  private readonly log: Logger;
  private port: number | undefined;
  private mapping: ActiveMapping | undefined;
  private leftover: OldMapping | undefined;
  private mapper: Mapper | undefined;
  private externalIp: string | undefined;
  private ipReported = false;
  private attempted = false;
  private failures = 0;
  private retryAt = 0;
  private ipCheckAt = 0;
  private lastError: string | null = null;
  private lastErrorAt: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private work: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: LoopOptions) {
    this.log = opts.log.child({ component: 'renew' });
    this.leftover = opts.previous;
  }

  /** Begins with the port the torrent service stored, if any. */
  async start(port: number | undefined): Promise<void> {
    this.port = port;
    if (this.opts.mappers.length === 0) await this.opts.events.status(this.status());
    else this.wake();
  }

  /** The torrent service listens on `port` (bt_ready). */
  setPort(port: number): void {
    if (this.closed || this.opts.mappers.length === 0) return;
    if (port === this.port) {
      // The torrent service restarted on the same port: the mapping stands; say so again for late listeners.
      const m = this.mapping;
      if (m && m.internalPort === port) void this.enqueue(() => this.opts.events.mapped(m));
      return;
    }
    this.port = port;
    this.retryAt = 0; // a new port is worth an attempt now, backoff or not
    this.wake();
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.work = this.work.then(step).catch((err) => this.log.error({ err }, `NAT loop step failed: ${errorMessage(err)}`));
    return this.work;
  }

  private wake(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.enqueue(async () => {
      try {
        await this.tick();
      } finally {
        this.schedule(); // whatever failed, the renewal timer must stay armed
      }
    });
  }

  private schedule(): void {
    if (this.closed) return;
    const at = this.nextAt();
    if (at === undefined) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private nextAt(): number | undefined {
    if (this.failures > 0) return this.retryAt;
    const times: number[] = [];
    if (this.mapping) times.push(this.mapping.renewAt);
    if (this.mapper) times.push(this.ipCheckAt);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    if (now < this.retryAt) return;
    try {
      if (!this.mapper) await this.discover();
      else if (now >= this.ipCheckAt) await this.checkExternalIp(this.mapper);
      const port = this.port;
      if (port !== undefined && (!this.mapping || this.mapping.internalPort !== port || now >= this.mapping.renewAt)) {
        await this.mapPort(this.mapper!, port);
      }
      this.recovered();
    } catch (err) {
      await this.fail(err);
    }
    this.attempted = true;
    await this.saveStatus();
  }

  private recovered(): void {
    if (this.failures > 0) this.log.info(`the router answers again (after ${this.failures} failed attempt${this.failures > 1 ? 's' : ''})`);
    this.failures = 0;
    this.retryAt = 0;
  }

  /** A status that cannot be saved (store away) must not stop the loop: the next tick saves it again. */
  private async saveStatus(): Promise<void> {
    try {
      await this.opts.events.status(this.status());
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, `could not save the NAT status: ${errorMessage(err)}`);
    }
  }

  /** Tries each enabled protocol in order; the first router that names its external address wins. */
  private async discover(): Promise<void> {
    const reasons: string[] = [];
    for (const mapper of this.opts.mappers) {
      try {
        const ip = await mapper.externalIp();
        this.mapper = mapper;
        this.ipCheckAt = Date.now() + IP_CHECK_MS;
        this.log.info({ protocol: mapper.name, externalIp: ip }, `found a ${mapper.name === 'natpmp' ? 'NAT-PMP' : 'UPnP'} router; its external address is ${ip}`);
        await this.setExternalIp(ip);
        return;
      } catch (err) {
        mapper.forget();
        reasons.push(errorMessage(err));
      }
    }
    if (!this.mapping) await this.setExternalIp(undefined);
    throw new UnavailableError(`no router maps ports for this node: ${reasons.join('; ')}` +
      ' (turn on UPnP or NAT-PMP in the router, or set BITWEEN_UPNP=false BITWEEN_NATPMP=false to stop asking)');
  }

  private async checkExternalIp(mapper: Mapper): Promise<void> {
    const ip = await mapper.externalIp();
    this.ipCheckAt = Date.now() + IP_CHECK_MS;
    if (ip !== this.externalIp) this.log.info({ externalIp: ip, was: this.externalIp }, `the router's external address is now ${ip}`);
    await this.setExternalIp(ip);
  }

  private async setExternalIp(ip: string | undefined): Promise<void> {
    if (this.ipReported && ip === this.externalIp) return;
    this.externalIp = ip;
    this.ipReported = true;
    if (this.mapping) this.mapping.externalIp = ip ?? null;
    await this.opts.events.externalIp(ip);
  }

  private async mapPort(mapper: Mapper, port: number): Promise<void> {
    const current = this.mapping;
    const old: OldMapping | undefined = current ?? this.leftover;
    // Ask for the external port we hold (or held) first: the router then updates that entry in place
    // instead of adding a second one, and contacts keep dialling the same port. NAT-PMP routers key a
    // mapping by internal port, so for a new internal port that would only cost them a conflict search.
    const keep = old && (old.internalPort === port || mapper.name === 'upnp') ? old.externalPort : undefined;
    const externalPorts = [...new Set([keep, port, ...fallbackPorts(port, this.opts.description)])]
      .filter((p): p is number => p !== undefined);
    const grant = await mapper.map({ internalPort: port, externalPorts, lifetimeSeconds: this.opts.lifetimeSeconds, description: this.opts.description });
    const now = Date.now();
    const lifetimeMs = grant.lifetimeSeconds * 1000;
    const mapping: ActiveMapping = {
      ...grant,
      externalIp: this.externalIp ?? null,
      grantedAt: now,
      expiresAt: now + lifetimeMs,
      renewAt: now + Math.max(lifetimeMs / 2, 1000),
    };
    this.mapping = mapping;
    this.leftover = undefined;
    this.recovered();
    const renewed = current !== undefined && current.internalPort === grant.internalPort && current.externalPort === grant.externalPort;
    if (renewed) {
      this.log.debug({ externalPort: grant.externalPort, lifetime: grant.lifetimeSeconds }, 'mapping renewed');
    } else {
      this.log.info(
        { protocol: grant.protocol, externalPort: grant.externalPort, internalPort: grant.internalPort, externalIp: this.externalIp, lifetime: grant.lifetimeSeconds },
        `router maps ${this.externalIp ?? 'external'}:${grant.externalPort} to local port ${grant.internalPort} (${grant.protocol}, ${grant.lifetimeSeconds} s lease)`,
      );
      // State first, then the announcement: whoever reacts to set_port finds nat.mapping current.
      await this.saveStatus();
      await this.opts.events.mapped(mapping);
    }
    if (old) await this.removeOld(mapper, old, grant);
  }

  /** Removes the entry a move or an earlier run left, unless the new mapping replaced it in place. */
  private async removeOld(mapper: Mapper, old: OldMapping, grant: Grant): Promise<void> {
    if (old.externalPort === grant.externalPort) return; // same router entry, updated (UPnP) or replaced (NAT-PMP)
    if (old.expiresAt !== undefined && old.expiresAt <= Date.now()) return; // gone already; never delete another's
    // NAT-PMP deletes by internal port: that request would remove the mapping just made.
    if (mapper.name === 'natpmp' && old.internalPort === grant.internalPort) return;
    try {
      await mapper.unmap(old);
      this.log.info({ externalPort: old.externalPort, internalPort: old.internalPort }, `removed the old mapping of external port ${old.externalPort}`);
    } catch (err) {
      this.log.warn({ externalPort: old.externalPort, err: errorMessage(err) }, `could not remove the old mapping of external port ${old.externalPort}; the router drops it when its lease ends`);
    }
  }

  private async fail(err: unknown): Promise<void> {
    const message = errorMessage(err);
    this.failures += 1;
    const delay = Math.min(RETRY_MIN_MS * 2 ** (this.failures - 1), RETRY_MAX_MS);
    this.retryAt = Date.now() + delay;
    this.lastError = message;
    this.lastErrorAt = new Date().toISOString();
    // Once per streak of failures at warn; the retries after it at debug, so a missing router is no log flood.
    const level = this.failures === 1 ? 'warn' : 'debug';
    this.log[level]({ attempt: this.failures, retryInMs: delay }, `${message}; trying again in ${Math.round(delay / 1000)} s, then less often`);
    // No answer: the router may have restarted (miniupnpd picks a new HTTP port) or be another one, so look
    // for it again. A refusal came from a router that is there: keep it.
    if (!(err instanceof RouterRefusal)) {
      this.mapper?.forget();
      this.mapper = undefined;
    }
    if (this.mapping && Date.now() >= this.mapping.expiresAt) {
      this.log.warn({ externalPort: this.mapping.externalPort }, `the router's lease on external port ${this.mapping.externalPort} has ended; contacts cannot reach this node through it until the router answers again`);
      this.leftover = this.mapping; // ask for the same external port when it is back
      this.mapping = undefined;
    }
  }

  status(): NatMappingState {
    const m = this.mapping;
    const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
    let status: NatMappingState['status'];
    if (this.opts.mappers.length === 0) status = 'off';
    else if (this.closed) status = 'stopped';
    else if (this.failures > 0) status = 'retrying';
    else if (m) status = 'mapped';
    else if (this.port === undefined && this.attempted) status = 'waiting';
    else status = 'searching';
    return {
      status,
      externalPort: m?.externalPort ?? null,
      internalPort: m?.internalPort ?? null,
      protocol: m?.protocol ?? null,
      externalIp: this.externalIp ?? null,
      expiresAt: iso(m?.expiresAt),
      renewAt: iso(m?.renewAt),
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      nextAttemptAt: this.failures > 0 ? iso(this.retryAt) : null,
      protocols: this.opts.mappers.map((x) => x.name),
      updatedAt: new Date().toISOString(),
    };
  }

  /** Stops the timers, removes the mapping (one request) and releases the sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.work, new Promise((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    const m = this.mapping;
    const mapper = this.mapper ?? this.opts.mappers.find((x) => (m?.protocol === 'natpmp') === (x.name === 'natpmp'));
    if (m && mapper) {
      try {
        await withTimeout(mapper.unmap(m), CLOSE_UNMAP_MS, `no answer within ${CLOSE_UNMAP_MS} ms`);
        this.log.info({ externalPort: m.externalPort }, `removed the mapping of external port ${m.externalPort}`);
        this.mapping = undefined;
      } catch (err) {
        // Kept in the stored status, so that the next run asks for the same entry instead of adding a second.
        this.log.warn({ err: errorMessage(err) }, `could not remove the mapping of external port ${m.externalPort}; the router drops it at ${new Date(m.expiresAt).toISOString()}`);
      }
    }
    await this.saveStatus();
    await Promise.allSettled(this.opts.mappers.map((x) => x.close()));
  }
}
