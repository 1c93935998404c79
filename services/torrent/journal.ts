// Write-behind for the torrent service's store writes. Every state change (added, metadata, progress, done,
// failed, removed) is queued here and written in order; when Postgres does not answer, the queue keeps it
// and retries until it does, so a completion that happens during an outage is stored (and announced) once
// Postgres is back instead of being lost. Every write is idempotent (an UPDATE to a value, an INSERT … ON
// CONFLICT DO NOTHING, a DELETE), so a write that reached Postgres just before the connection broke may safely
// run again.
import type pg from 'pg';
import { errorCode, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';

export interface JournalWrite {
  infoHash: string;
  /** What it writes, for logs and for coalescing: a pending `progress` is replaced by a newer one. */
  kind: 'insert' | 'metadata' | 'progress' | 'seeding' | 'downloading' | 'failed' | 'remove' | 'totals' | 'paused' | 'selection' | 'limits';
  run(db: pg.Pool): Promise<unknown>;
  /** Runs once the write is stored (e.g. publish torrent_done). Its failure is logged, never retried. */
  then?(): unknown;
}

/** Errors that mean "Postgres is not reachable right now" rather than "this write is wrong". */
export function isStoreDown(err: unknown): boolean {
  const code = errorCode(err);
  if (code === 'E_STORE_DOWN' || code === 'E_UNAVAILABLE') return true;
  // pg's own words when a connection dies under a query (no code on these).
  return /Connection terminated|connection.*(closed|ended)|Client has encountered a connection error/i.test(errorMessage(err));
}

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 2000;

export class StoreJournal {
  private readonly pending: JournalWrite[] = [];
  private running: Promise<void> | undefined;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private closed = false;
  /** False from the first failed write until one succeeds again. */
  reachable = true;

  constructor(private readonly db: pg.Pool, private readonly log: Logger) {}

  get size(): number {
    return this.pending.length;
  }

  write(w: JournalWrite): void {
    if (w.kind === 'progress' || w.kind === 'totals' || w.kind === 'limits') {
      // Only the newest progress (totals, limits) of a torrent matters, as long as no other write of it follows
      // the old one. Index 0 is being written right now: never replace that one.
      const last = this.lastIndexOf(w.infoHash);
      if (last > 0 && this.pending[last]!.kind === w.kind) {
        this.pending[last] = w;
        return;
      }
    }
    this.pending.push(w);
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  /** Resolves once everything queued so far is stored, or after `ms` (then returns how many are left). */
  async flush(ms: number): Promise<number> {
    const deadline = Date.now() + ms;
    while (this.pending.length > 0 && Date.now() < deadline) {
      this.wake?.(); // retry now rather than after the backoff
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    return this.pending.length;
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  private lastIndexOf(infoHash: string): number {
    for (let i = this.pending.length - 1; i >= 0; i--) if (this.pending[i]!.infoHash === infoHash) return i;
    return -1;
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.closed) {
      const w = this.pending[0]!;
      try {
        await w.run(this.db);
      } catch (err) {
        if (isStoreDown(err)) {
          if (this.reachable) this.log.warn({ err, pending: this.pending.length }, 'store unreachable: keeping torrent state changes until Postgres answers (is PostgreSQL running?)');
          this.reachable = false;
          await this.backoff();
          continue;
        }
        // A write Postgres refuses is a bug, not an outage: retrying would block every write behind it.
        this.log.error({ err, infoHash: w.infoHash, kind: w.kind }, 'store refused a torrent state change: dropped');
        this.pending.shift();
        continue;
      }
      this.pending.shift();
      if (!this.reachable) this.log.info({ pending: this.pending.length }, 'store reachable again: writing kept state changes');
      this.reachable = true;
      this.retryMs = RETRY_MIN_MS;
      try {
        await w.then?.();
      } catch (err) {
        this.log.warn({ err, infoHash: w.infoHash, kind: w.kind }, 'follow-up of a stored state change failed');
      }
    }
  }

  private backoff(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        clearTimeout(this.retryTimer);
        this.wake = undefined;
        resolve();
      };
      this.retryTimer = setTimeout(() => this.wake?.(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    });
  }
}
