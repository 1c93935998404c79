// The xmpp service's batched writes of contacts' lists (services/xmpp/store-writer.ts), on a real Postgres:
// many contacts at once go out in few statements and each lands whole; one contact's bad rows fail that
// contact alone; a newer list replaces the older one.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { listContactResources, listContactShares, type ContactReplacement } from '../../lib/store/contacts.js';
import { StoreWriter } from '../../services/xmpp/store-writer.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

function contact(i: number, shares: number, size = 1000): ContactReplacement {
  return {
    jid: `c${i}@example.test`,
    cleared: [],
    updates: [
      {
        resource: 'home',
        fingerprint: randomBytes(8).toString('hex'),
        version: null,
        addresses: [{ address: '198.51.100.7', port: 51413 + (i % 100) }],
        shares: Array.from({ length: shares }, (_, j) => ({ infoHash: randomBytes(20).toString('hex'), name: `c${i} share ${j}`, size: size + j })),
      },
    ],
  };
}

describe('xmpp: batched store writes', () => {
  let db: TestDatabase;
  let statements = 0;
  let writer: StoreWriter;

  before(async () => {
    db = await createTestDatabase();
    // Counts the statements the writer sends, to see that a burst is batched.
    const counting = { query: (...args: unknown[]) => (statements++, (db.pool.query as (...a: unknown[]) => unknown)(...args)) };
    writer = new StoreWriter(counting as unknown as pg.Pool);
  });

  after(async () => {
    await db?.drop();
  });

  test('300 contacts at once: each list stored whole, in far fewer statements than contacts', async () => {
    const burst = Array.from({ length: 300 }, (_, i) => contact(i, 50));
    statements = 0;
    await Promise.all(burst.map((c) => writer.write(c)));
    assert.ok(statements < 50, `${statements} statements for 300 contacts`);
    for (const c of [burst[0]!, burst[149]!, burst[299]!]) {
      const stored = await listContactShares(db.pool, c.jid);
      assert.deepEqual(new Set(stored.map((s) => s.infoHash)), new Set(c.updates[0]!.shares!.map((s) => s.infoHash)));
      const [res] = await listContactResources(db.pool, c.jid);
      assert.deepEqual(res!.addresses.map((a) => a.port), [c.updates[0]!.addresses[0]!.port]);
    }
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM contact_shares`);
    assert.equal(rows[0]!.n, 300 * 50);
  });

  test("one contact's rows that the store refuses fail that contact alone", async () => {
    const burst = Array.from({ length: 10 }, (_, i) => contact(1000 + i, 5));
    const bad = contact(1010, 5, -1); // size < 0 breaks the table's CHECK
    const results = await Promise.allSettled([...burst.slice(0, 5), bad, ...burst.slice(5)].map((c) => writer.write(c)));
    assert.equal(results.filter((r) => r.status === 'rejected').length, 1);
    assert.equal(results[5]!.status, 'rejected');
    for (const c of burst) assert.equal((await listContactShares(db.pool, c.jid)).length, 5, c.jid);
    assert.equal((await listContactShares(db.pool, bad.jid)).length, 0);
  });

  test('a newer list replaces the older one, in a batch with other contacts', async () => {
    const first = Array.from({ length: 20 }, (_, i) => contact(2000 + i, 10));
    await Promise.all(first.map((c) => writer.write(c)));
    const second = first.map((_, i) => contact(2000 + i, 3));
    await Promise.all(second.map((c) => writer.write(c)));
    for (const c of second) {
      const stored = await listContactShares(db.pool, c.jid);
      assert.deepEqual(new Set(stored.map((s) => s.infoHash)), new Set(c.updates[0]!.shares!.map((s) => s.infoHash)));
    }
  });
});
