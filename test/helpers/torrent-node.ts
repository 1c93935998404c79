// One node's torrent side for tests: namespace, database, folders, bus view and the service process.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestBus, newNamespace, REDIS_URL } from './bus.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { startServiceReady, type ServiceProcess } from './process.js';

export interface TorrentNode {
  namespace: string;
  db: TestDatabase;
  dir: string;
  savePath: string;
  bus: TestBus;
  env: Record<string, string>;
  service: ServiceProcess | undefined;
  /** The BitTorrent listen port from the last bt_ready. */
  port: number;
  start(extraEnv?: Record<string, string>): Promise<void>;
  cleanup(): Promise<void>;
}

/** `env` may point the node at a private Redis or save path; `options.db` is a database made elsewhere (a private cluster). */
export async function createTorrentNode(name: string, env: Record<string, string> = {}, options: { db?: TestDatabase } = {}): Promise<TorrentNode> {
  const namespace = newNamespace(name);
  const db = options.db ?? (await createTestDatabase());
  let dir: string | undefined;
  let bus: TestBus;
  try {
    dir = await mkdtemp(join(tmpdir(), `bitween-${name}-`));
    bus = await TestBus.open(namespace, env.BITWEEN_REDIS_URL ?? REDIS_URL);
  } catch (err) {
    // Nothing is returned to clean up (Redis down, say): drop what was made so far.
    await db.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const node: TorrentNode = {
    namespace,
    db,
    dir,
    savePath: env.BITWEEN_SAVE_PATH ?? join(dir, 'downloads'),
    bus,
    service: undefined,
    port: 0,
    env: {
      BITWEEN_NAMESPACE: namespace,
      BITWEEN_DATABASE_URL: db.url,
      BITWEEN_REDIS_URL: REDIS_URL,
      BITWEEN_SAVE_PATH: join(dir, 'downloads'),
      // Tests share files from temporary folders (the default root, the home folder, holds none of them).
      BITWEEN_SHARE_ROOTS: tmpdir(),
      BITWEEN_ALLOW_LOOPBACK: 'true',
      BITWEEN_PROGRESS_INTERVAL_MS: '200',
      ...env,
    },
    async start(extraEnv = {}) {
      const since = bus.mark();
      node.service = await startServiceReady('torrent', { ...node.env, ...extraEnv });
      const ready = await bus.waitFor('bt_ready', () => true, 15000, since);
      node.port = Number(ready.args[0]);
    },
    async cleanup() {
      await node.service?.stop();
      await bus.close();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return node;
}

/** Writes what the XMPP service writes when a contact publishes a share with an address. */
export async function storeContactShare(
  node: TorrentNode,
  share: { jid?: string; resource?: string; infoHash: string; name: string; size: number; address: string; port: number },
): Promise<void> {
  const jid = share.jid ?? 'friend@example.test';
  const resource = share.resource ?? 'home';
  await node.db.pool.query(
    `INSERT INTO contact_resources (jid, resource, online) VALUES ($1, $2, true) ON CONFLICT DO NOTHING`,
    [jid, resource],
  );
  await node.db.pool.query(
    `INSERT INTO contact_shares (jid, resource, info_hash, name, size) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    [jid, resource, share.infoHash, share.name, share.size],
  );
  await node.db.pool.query(
    `INSERT INTO contact_addresses (jid, resource, address, port) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
    [jid, resource, share.address, share.port],
  );
}

/**
 * Writes a contact's published address without shares: a node accepts incoming peers only from addresses its
 * contacts published (BITWEEN_PEERS=contacts), so the seeder of a two-node test stores the leecher's. Every
 * node on this machine connects from 127.0.0.1, the default here.
 */
export async function storeContactAddress(node: TorrentNode, contact: { jid?: string; resource?: string; address?: string; port?: number } = {}): Promise<void> {
  const jid = contact.jid ?? 'leecher@example.test';
  const resource = contact.resource ?? 'home';
  await node.db.pool.query(`INSERT INTO contact_resources (jid, resource, online) VALUES ($1, $2, true) ON CONFLICT DO NOTHING`, [jid, resource]);
  await node.db.pool.query(`INSERT INTO contact_addresses (jid, resource, address, port) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, [
    jid,
    resource,
    contact.address ?? '127.0.0.1',
    contact.port ?? 6881,
  ]);
}
