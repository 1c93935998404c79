// Contacts and their shares in the store: the roster as the XMPP service sees it (pending requests
// included), and per contact resource the shares and addresses it last published.
import type pg from 'pg';
import type { Db } from './pool.js';

export type Subscription = 'none' | 'to' | 'from' | 'both';

export interface ContactRow {
  jid: string;
  subscription: Subscription;
  /** They asked to see our presence; waiting for `add_contact`. */
  pendingIn: boolean;
  /** We asked to see theirs; waiting for them. */
  pendingOut: boolean;
  updatedAt: Date;
}

export interface ContactShare {
  infoHash: string;
  name: string;
  size: number;
}

export interface ContactAddress {
  address: string;
  port: number;
}

const CONTACT_COLUMNS = `jid, subscription, pending_in AS "pendingIn", pending_out AS "pendingOut", updated_at AS "updatedAt"`;

export async function getContact(db: Db, jid: string): Promise<ContactRow | undefined> {
  const { rows } = await db.query<ContactRow>(`SELECT ${CONTACT_COLUMNS} FROM contacts WHERE jid = $1`, [jid]);
  return rows[0];
}

/** Inserts or updates one contact; fields left undefined keep their value (or the default). */
export async function upsertContact(
  db: Db,
  jid: string,
  patch: { subscription?: Subscription; pendingIn?: boolean; pendingOut?: boolean },
): Promise<void> {
  await db.query(
    `INSERT INTO contacts (jid, subscription, pending_in, pending_out)
     VALUES ($1, coalesce($2, 'none'), coalesce($3, false), coalesce($4, false))
     ON CONFLICT (jid) DO UPDATE SET
       subscription = coalesce($2, contacts.subscription),
       pending_in = coalesce($3, contacts.pending_in),
       pending_out = coalesce($4, contacts.pending_out),
       updated_at = now()`,
    [jid, patch.subscription ?? null, patch.pendingIn ?? null, patch.pendingOut ?? null],
  );
}

/**
 * Makes the contacts table match a freshly fetched roster: every item upserted, contacts no longer in it
 * removed with their shares — except pending requests, which the server re-delivers after our presence.
 */
export async function syncRoster(pool: pg.Pool, items: { jid: string; subscription: Subscription; pendingOut: boolean }[]): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query(
      `INSERT INTO contacts (jid, subscription, pending_out)
       SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[])
       ON CONFLICT (jid) DO UPDATE SET subscription = excluded.subscription, pending_out = excluded.pending_out,
         pending_in = contacts.pending_in AND excluded.subscription IN ('none', 'to'), updated_at = now()
       WHERE (contacts.subscription, contacts.pending_out) IS DISTINCT FROM (excluded.subscription, excluded.pending_out)`,
      [items.map((i) => i.jid), items.map((i) => i.subscription), items.map((i) => i.pendingOut)],
    );
    await c.query(`DELETE FROM contacts WHERE NOT (jid = ANY($1::text[])) AND NOT pending_in`, [items.map((i) => i.jid)]);
  });
}

/** Forgets a contact: the roster row and every resource, share and address it published. */
export async function deleteContact(pool: pg.Pool, jid: string): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query(`DELETE FROM contacts WHERE jid = $1`, [jid]);
    await c.query(`DELETE FROM contact_resources WHERE jid = $1`, [jid]);
  });
}

/** Drops what a contact published (we no longer see their presence), keeping the roster row. */
export async function dropContactShares(db: Db, jid: string): Promise<number> {
  const { rowCount } = await db.query(`DELETE FROM contact_resources WHERE jid = $1`, [jid]);
  return rowCount ?? 0;
}

/** Resources of contacts that are not subscribed any more (e.g. removed while we were offline). */
export async function dropSharesOfStrangers(db: Db, keep: string[]): Promise<string[]> {
  const { rows } = await db.query<{ jid: string }>(
    `DELETE FROM contact_resources WHERE NOT (jid = ANY($1::text[])) RETURNING jid`,
    [keep],
  );
  return [...new Set(rows.map((r) => r.jid))];
}

export interface ResourceUpdate {
  resource: string;
  /** undefined: the shares are unchanged (only the addresses moved). */
  shares: ContactShare[] | undefined;
  addresses: ContactAddress[];
  /** What the resource's entry said, to skip identical notifications (wire.ts fingerprint). */
  fingerprint: string;
  /** The page-set version of a paged list, null for an inline one. */
  version: string | null;
}

/** What one contact published, as `replaceContactShares` writes it. */
export interface ContactReplacement {
  jid: string;
  updates: ResourceUpdate[];
  /** Resources absent from the new item: emptied, their rows kept so `online` survives. */
  cleared: string[];
}

/**
 * Replaces what contacts published, any number of them in one statement (a login brings a thousand items
 * at once, and a statement per contact costs more than its rows): each updated resource's shares and
 * addresses, and the cleared resources emptied. One statement, so one round trip and atomic: rows to keep
 * are upserted and only the others deleted, so no two parts of the statement touch the same row (their
 * order inside it does not matter). Each contact appears at most once.
 * The commit does not wait for the WAL flush (synchronous_commit off, for this transaction only): this is a
 * copy of what contacts publish, re-sent by the server on every login, and a crash can lose at most the
 * last fraction of a second of it — while an fsync per notification costs milliseconds on a busy disk.
 */
export async function replaceContactShares(db: Db, contacts: ContactReplacement[]): Promise<void> {
  const resources = contacts.flatMap((c) => c.updates.map((u) => ({ jid: c.jid, ...u })));
  const shares = resources.flatMap((u) => (u.shares ?? []).map((s) => ({ jid: u.jid, resource: u.resource, ...s })));
  const addresses = resources.flatMap((u) => u.addresses.map((a) => ({ jid: u.jid, resource: u.resource, ...a })));
  const cleared = contacts.flatMap((c) => c.cleared.map((resource) => ({ jid: c.jid, resource })));
  // Not a named (prepared) statement: after a few runs pg's generic plan stops using the keys of the
  // rows given and scans whole tables; planning anew costs half a millisecond.
  await db.query({
    text: `WITH nosync AS (SELECT set_config('synchronous_commit', 'off', true)),
          u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[]) AS t(jid, resource, fingerprint, version, new_shares)),
          sh AS (SELECT * FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[]) AS t(jid, resource, info_hash, name, size)),
          ad AS (SELECT * FROM unnest($11::text[], $12::text[], $13::inet[], $14::int[]) AS t(jid, resource, address, port)),
          cl AS (SELECT * FROM unnest($15::text[], $16::text[]) AS t(jid, resource)),
          res AS (INSERT INTO contact_resources (jid, resource, fingerprint, version)
                  SELECT jid, resource, fingerprint, version FROM u
                  ON CONFLICT (jid, resource) DO UPDATE SET fingerprint = excluded.fingerprint, version = excluded.version, updated_at = now()),
          clr AS (UPDATE contact_resources r SET fingerprint = NULL, version = NULL, updated_at = now()
                   FROM cl WHERE r.jid = cl.jid AND r.resource = cl.resource),
          -- rows of cleared resources go; of resources with a new list, those the list no longer has
          del_sh AS (DELETE FROM contact_shares s
                      USING (SELECT jid, resource, true AS every_row FROM cl
                             UNION ALL SELECT jid, resource, false FROM u WHERE new_shares) k
                      WHERE s.jid = k.jid AND s.resource = k.resource
                        AND (k.every_row OR NOT EXISTS (SELECT 1 FROM sh WHERE sh.jid = s.jid AND sh.resource = s.resource AND sh.info_hash = s.info_hash))),
          ins_sh AS (INSERT INTO contact_shares (jid, resource, info_hash, name, size)
                     SELECT jid, resource, info_hash, name, size FROM sh
                     ON CONFLICT (jid, resource, info_hash) DO UPDATE SET name = excluded.name, size = excluded.size
                     WHERE (contact_shares.name, contact_shares.size) IS DISTINCT FROM (excluded.name, excluded.size)),
          del_ad AS (DELETE FROM contact_addresses a
                      USING (SELECT jid, resource, true AS every_row FROM cl
                             UNION ALL SELECT jid, resource, false FROM u) k
                      WHERE a.jid = k.jid AND a.resource = k.resource
                        AND (k.every_row OR NOT EXISTS (SELECT 1 FROM ad WHERE ad.jid = a.jid AND ad.resource = a.resource AND ad.address = a.address AND ad.port = a.port))),
          ins_ad AS (INSERT INTO contact_addresses (jid, resource, address, port)
                     SELECT jid, resource, address, port FROM ad ON CONFLICT DO NOTHING)
     SELECT 1 FROM nosync`,
    values: [
      resources.map((u) => u.jid),
      resources.map((u) => u.resource),
      resources.map((u) => u.fingerprint),
      resources.map((u) => u.version),
      resources.map((u) => u.shares !== undefined),
      shares.map((s) => s.jid),
      shares.map((s) => s.resource),
      shares.map((s) => s.infoHash),
      shares.map((s) => s.name),
      shares.map((s) => s.size),
      addresses.map((a) => a.jid),
      addresses.map((a) => a.resource),
      addresses.map((a) => a.address),
      addresses.map((a) => a.port),
      cleared.map((c) => c.jid),
      cleared.map((c) => c.resource),
    ],
  });
}

export interface StoredResource {
  fingerprint: string | null;
  version: string | null;
}

/** jid → resource → what its entry said last; the XMPP service's memory of what is already stored. */
export async function loadResourceFingerprints(db: Db): Promise<Map<string, Map<string, StoredResource>>> {
  const { rows } = await db.query<{ jid: string; resource: string } & StoredResource>(
    `SELECT jid, resource, fingerprint, version FROM contact_resources`,
  );
  const out = new Map<string, Map<string, StoredResource>>();
  for (const r of rows) {
    if (!out.has(r.jid)) out.set(r.jid, new Map());
    out.get(r.jid)!.set(r.resource, { fingerprint: r.fingerprint, version: r.version });
  }
  return out;
}

export async function setResourceOnline(db: Db, jid: string, resource: string, online: boolean): Promise<void> {
  await db.query(
    `INSERT INTO contact_resources (jid, resource, online) VALUES ($1, $2, $3)
     ON CONFLICT (jid, resource) DO UPDATE SET online = excluded.online, updated_at = now()
     WHERE contact_resources.online IS DISTINCT FROM excluded.online`,
    [jid, resource, online],
  );
}

/** Every resource of `jid` (or of everyone) offline: the contact went away, or we reconnected. */
export async function setOffline(db: Db, jid?: string): Promise<void> {
  await db.query(`UPDATE contact_resources SET online = false, updated_at = now() WHERE online AND ($1::text IS NULL OR jid = $1)`, [jid ?? null]);
}

export interface ContactResourceRow {
  jid: string;
  resource: string;
  online: boolean;
  shares: number;
  addresses: ContactAddress[];
  updatedAt: Date;
}

export async function listContactResources(db: Db, jid?: string): Promise<ContactResourceRow[]> {
  const { rows } = await db.query<ContactResourceRow>(
    `SELECT r.jid, r.resource, r.online, r.updated_at AS "updatedAt",
            (SELECT count(*)::int FROM contact_shares s WHERE s.jid = r.jid AND s.resource = r.resource) AS shares,
            coalesce((SELECT json_agg(json_build_object('address', host(a.address), 'port', a.port) ORDER BY a.address, a.port)
                        FROM contact_addresses a WHERE a.jid = r.jid AND a.resource = r.resource), '[]') AS addresses
       FROM contact_resources r WHERE $1::text IS NULL OR r.jid = $1 ORDER BY r.jid, r.resource`,
    [jid ?? null],
  );
  return rows;
}

/** Contacts offering `infoHash`, each with whether a resource of theirs that offers it is online. */
export async function contactsOffering(db: Db, infoHash: string): Promise<{ jid: string; online: boolean }[]> {
  const { rows } = await db.query<{ jid: string; online: boolean }>(
    `SELECT s.jid, bool_or(r.online) AS online
       FROM contact_shares s JOIN contact_resources r USING (jid, resource)
      WHERE s.info_hash = $1 GROUP BY s.jid ORDER BY s.jid`,
    [infoHash],
  );
  return rows;
}

export async function listContactShares(db: Db, jid: string, resource?: string): Promise<(ContactShare & { resource: string })[]> {
  const { rows } = await db.query<ContactShare & { resource: string }>(
    `SELECT resource, info_hash AS "infoHash", name, size FROM contact_shares
      WHERE jid = $1 AND ($2::text IS NULL OR resource = $2) ORDER BY resource, name, info_hash`,
    [jid, resource ?? null],
  );
  return rows;
}

/** For `bitween status`: contacts we see (subscription to/both), how many have a resource online, requests waiting for add_contact. */
export async function contactCounts(db: Db): Promise<{ online: number; total: number; pendingRequests: number }> {
  const { rows } = await db.query<{ online: number; total: number; pendingRequests: number }>(
    `SELECT count(*) FILTER (WHERE c.subscription IN ('to', 'both')
              AND EXISTS (SELECT 1 FROM contact_resources r WHERE r.jid = c.jid AND r.online))::int AS online,
            count(*) FILTER (WHERE c.subscription IN ('to', 'both'))::int AS total,
            count(*) FILTER (WHERE c.pending_in)::int AS "pendingRequests"
       FROM contacts c`,
  );
  return rows[0]!;
}

async function inTransaction(pool: pg.Pool, work: (c: pg.PoolClient) => Promise<void>): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await work(c);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
