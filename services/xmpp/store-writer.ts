// Writes contacts' lists to the store in batches. A login brings every contact's item within a second or
// two; a statement per contact spends more on the statement than on its rows, so contacts that arrive
// while a write runs go out together in the next one. A lone notification is written at once.
import type pg from 'pg';
import { replaceContactShares, type ContactReplacement } from '../../lib/store/contacts.js';

/** Statements in flight at once: one gathers while the other writes. */
const WRITERS = 2;
/** Rows (shares and addresses) per statement at most: a contact with a paged list of thousands goes alone. */
const MAX_ROWS = 20_000;

interface Pending {
  entry: ContactReplacement;
  rows: number;
  resolve(): void;
  reject(err: unknown): void;
}

export class StoreWriter {
  private readonly pending: Pending[] = [];
  private writing = 0;

  constructor(private readonly db: pg.Pool) {}

  /** Resolves once this contact's list is stored (rejects if its own rows could not be written). */
  write(entry: ContactReplacement): Promise<void> {
    return new Promise((resolve, reject) => {
      const rows = entry.updates.reduce((n, u) => n + (u.shares?.length ?? 0) + u.addresses.length, 1);
      this.pending.push({ entry, rows, resolve, reject });
      if (this.writing < WRITERS) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing++;
    try {
      while (this.pending.length > 0) {
        const batch: Pending[] = [this.pending.shift()!];
        let rows = batch[0]!.rows;
        while (this.pending.length > 0 && rows + this.pending[0]!.rows <= MAX_ROWS) {
          const next = this.pending.shift()!;
          rows += next.rows;
          batch.push(next);
        }
        await this.writeBatch(batch);
      }
    } finally {
      this.writing--;
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    try {
      await replaceContactShares(this.db, batch.map((p) => p.entry));
      for (const p of batch) p.resolve();
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      // One contact's rows must not cost the others theirs: write them one by one.
      for (const p of batch) await this.writeBatch([p]);
    }
  }
}
