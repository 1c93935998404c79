// Waiting for a service's answer on the bus. Subscribe before publishing (pub/sub does not replay), then wait
// for the event that answers the request, the `error` message that echoes its payload, or the service's
// heartbeat to vanish or change pid (it died or restarted: the request is lost, so say so instead of hanging).
// The answer may come before `wait` is called: the publish's reply and the answer arrive on two connections,
// and a busy machine can deliver the answer first. Events that arrive while nobody waits are kept for the
// next `wait`.
import type { Redis } from 'ioredis';
import { decodePayload } from '../lib/bus.js';
import { BitweenError, UnavailableError, isErrorCode, parseErrorReport, reportEchoes, type ErrorCode, type ErrorReport } from '../lib/errors.js';
import { HEARTBEAT_INTERVAL_MS } from '../lib/heartbeat.js';
import { startHint, type Session } from './session.js';

export interface Event {
  topic: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  raw: string;
  /** On `error`: the report, when it has the contract's shape. */
  report?: ErrorReport;
}

/** How long a waiting download tolerates the torrent service's heartbeat being gone (a pm2 restart). */
export const RESTART_GRACE_MS = 15000;

/**
 * The service refused the request; its message is the one line the user sees. `code` is the service's own
 * (E_NOT_FOUND, E_STORE_DOWN, …), so the exit code follows it as for a local failure.
 */
export class ServiceRefusedError extends BitweenError {
  override readonly code: ErrorCode;
  constructor(readonly report: ErrorReport) {
    super(`${report.service} service: ${report.error}`);
    this.code = isErrorCode(report.code) ? report.code : 'E_INTERNAL';
  }
}

type Waiter = (e: Event) => void;

/** Events kept for a wait that has not started yet (progress comes every 2 s; answers come at once). */
const MAX_BACKLOG = 1000;

export class Replies {
  private readonly waiters = new Set<Waiter>();
  /** Events received while no wait was running, oldest first. */
  private backlog: Event[] = [];
  private readonly failures = new Set<(err: Error) => void>();

  private constructor(private readonly session: Session, private readonly sub: Redis) {
    sub.on('message', (channel: string, raw: string) => this.receive(channel, raw));
    sub.on('end', () => this.fail(new UnavailableError(`lost the connection to Redis at ${session.config.redisUrl}: is redis-server running?`)));
  }

  /** Subscribes to `topics` (and `error`) in the session's namespace. */
  static async open(session: Session, topics: string[]): Promise<Replies> {
    const sub = await session.duplicateRedis();
    const replies = new Replies(session, sub);
    await sub.subscribe(...[...new Set([...topics, 'error'])].map((t) => `${session.namespace}:${t}`));
    return replies;
  }

  private receive(channel: string, raw: string): void {
    const topic = channel.slice(this.session.namespace.length + 1);
    let event: Event;
    if (topic === 'error') {
      event = { topic, raw, args: [], kwargs: {}, report: parseErrorReport(raw) };
    } else {
      try {
        event = { topic, raw, ...decodePayload(raw) };
      } catch {
        event = { topic, raw, args: [], kwargs: {} };
      }
    }
    if (this.waiters.size === 0) {
      this.backlog.push(event);
      if (this.backlog.length > MAX_BACKLOG) this.backlog.shift();
      return;
    }
    for (const w of [...this.waiters]) w(event);
  }

  private fail(err: Error): void {
    for (const f of [...this.failures]) f(err);
  }

  /**
   * Resolves with the first non-undefined value `pick` returns for an event; rejects with ServiceRefusedError
   * on an `error` from `service` that echoes `payload`, with UnavailableError when the service goes away or
   * `timeoutMs` (0 = none) passes. `poll` runs every `pollMs` and may resolve too (state read from the store).
   */
  wait<T>(opts: {
    service: string;
    pid: number;
    payload?: string;
    /** Sees every event (errors with `report` set); returns the answer, undefined to go on, or throws. */
    pick: (e: Event) => T | undefined;
    poll?: () => Promise<T | undefined>;
    pollMs?: number;
    what: string;
    timeoutMs?: number;
    /** What to say when `timeoutMs` passes (default: no answer from the service). */
    timeoutMessage?: string;
    /** The service restoring its state after a restart keeps the request alive (downloads): wait on. */
    survivesRestart?: boolean;
  }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.waiters.delete(waiter);
        this.failures.delete(failure);
        timers.forEach((t) => clearInterval(t));
        fn();
      };
      const waiter: Waiter = (e) => {
        const report = e.report;
        if (report && report.service === opts.service && opts.payload !== undefined && reportEchoes(report, opts.payload)) {
          return finish(() => reject(new ServiceRefusedError(report)));
        }
        try {
          const value = opts.pick(e);
          if (value !== undefined) finish(() => resolve(value));
        } catch (err) {
          finish(() => reject(err));
        }
      };
      const failure = (err: Error) => finish(() => reject(err));
      this.waiters.add(waiter);
      this.failures.add(failure);

      let pid = opts.pid;
      let missing = 0;
      const checkAlive = async () => {
        let beat;
        try {
          beat = await this.session.heartbeat(opts.service);
        } catch (err) {
          return finish(() => reject(err));
        }
        // A restart under pm2 leaves a gap of a few seconds without a heartbeat; a survivor waits it out.
        missing = beat ? 0 : missing + 1;
        if (!beat && (!opts.survivesRestart || missing * HEARTBEAT_INTERVAL_MS > RESTART_GRACE_MS)) {
          finish(() => reject(new UnavailableError(`the ${opts.service} service stopped while ${opts.what}: ${startHint(opts.service)}, then run this again`)));
        } else if (beat && beat.pid !== pid) {
          if (opts.survivesRestart) pid = beat.pid;
          else finish(() => reject(new UnavailableError(`the ${opts.service} service restarted while ${opts.what}: run this again`)));
        }
      };
      timers.push(setInterval(() => void checkAlive(), HEARTBEAT_INTERVAL_MS));
      if (opts.poll) {
        const poll = opts.poll;
        let busy = false;
        const tick = async () => {
          if (busy || settled) return;
          busy = true;
          try {
            const value = await poll();
            if (value !== undefined) finish(() => resolve(value));
          } catch (err) {
            finish(() => reject(err));
          } finally {
            busy = false;
          }
        };
        timers.push(setInterval(() => void tick(), opts.pollMs ?? 500));
        void tick();
      }
      if (opts.timeoutMs && opts.timeoutMs > 0) {
        const seconds = Math.round(opts.timeoutMs / 100) / 10;
        timers.push(
          setTimeout(() => {
            const message = opts.timeoutMessage ?? `no answer from the ${opts.service} service after ${seconds}s while ${opts.what}: check \`pm2 logs bitween-${opts.service}\``;
            finish(() => reject(new UnavailableError(message)));
          }, opts.timeoutMs),
        );
      }
      // Last, so that an answer already here settles the wait after its timers exist (finish clears them).
      const missed = this.backlog;
      this.backlog = [];
      let i = 0;
      while (i < missed.length && !settled) waiter(missed[i++]!);
      // What this wait did not need stays for the next one.
      if (i < missed.length) this.backlog = missed.slice(i).concat(this.backlog);
    });
  }
}

/** The info-hash an event like torrent_added carries as its first argument (lower-case), if any. */
export function eventHash(e: Event): string | undefined {
  const first = e.args[0];
  return typeof first === 'string' ? first.toLowerCase() : undefined;
}
