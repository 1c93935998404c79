// What the fault tests share: a file shared on a seeder node, fetched by a leecher through a counting relay,
// and the observations they assert on (progress events and rows that never go back, the service's heartbeat,
// the download complete on disk).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { until } from '../../bench/child.js';
import { readHeartbeat, type Heartbeat } from '../../lib/heartbeat.js';
import { getTorrent } from '../../lib/store/torrents.js';
import { sha1File, writeRandomFile } from '../helpers/files.js';
import { storeContactShare, type TorrentNode } from '../helpers/torrent-node.js';

/**
 * The seeder is not what these tests fault: it takes any peer (BITWEEN_PEERS=any), so the leecher reaches it
 * through the relay without being written into the seeder's contacts.
 */
export const SEEDER_ENV: Record<string, string> = { BITWEEN_PEERS: 'any' };

export interface Share {
  hash: string;
  name: string;
  size: number;
  /** The original on the seeder. */
  file: string;
  sha1: string;
}

/** Writes a random file of `size` bytes on `node` and shares it (generate_torrent). */
export async function shareRandomFile(node: TorrentNode, name: string, size: number): Promise<Share> {
  const file = join(node.dir, 'share', name);
  await writeRandomFile(file, size);
  const since = node.bus.mark();
  await node.bus.publish('generate_torrent', [file]);
  const m = await node.bus.waitFor('torrent_added', (x) => x.kwargs.path === file, 30000, since);
  return { hash: String(m.args[0]), name: String(m.kwargs.name), size: Number(m.kwargs.size), file, sha1: await sha1File(file) };
}

/**
 * Tells `leecher` (as the XMPP service would) that `share` is at 127.0.0.1:`port` and publishes add_hash.
 * Resolves with the bus mark from before the add, once the torrent is in the session.
 */
export async function fetchShare(leecher: TorrentNode, share: Share, port: number): Promise<number> {
  // A contact of its own per share: a contact's addresses serve all its shares, and an earlier test's relay
  // must not carry this download past the relay the test counts on.
  const jid = `seeder-${share.hash.slice(0, 8)}@example.test`;
  await storeContactShare(leecher, { jid, infoHash: share.hash, name: share.name, size: share.size, address: '127.0.0.1', port });
  const since = leecher.bus.mark();
  await leecher.bus.publish('add_hash', [share.hash]);
  await leecher.bus.waitFor('torrent_added', (m) => m.args[0] === share.hash, 20000, since);
  return since;
}

/** bytes_done of every `torrent_progress` the node published for `hash` since `since`, in order. */
export function progressEvents(node: TorrentNode, hash: string, since = 0): number[] {
  return node.bus.seen.slice(since).filter((m) => m.topic === 'torrent_progress' && m.args[0] === hash).map((m) => Number(m.args[1]));
}

export function assertNeverBack(values: number[], what: string): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i]! >= values[i - 1]!, `${what} went back from ${values[i - 1]} to ${values[i]} (#${i} of ${values.length})`);
  }
}

/** Reads the torrent's bytes_done from the store every `everyMs` while it answers (a stopped Postgres is skipped). */
export function sampleStoredProgress(node: TorrentNode, hash: string, everyMs = 250): { values: number[]; stop(): void } {
  const values: number[] = [];
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    getTorrent(node.db.pool, hash)
      .then((row) => {
        if (row) values.push(row.bytesDone);
      })
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, everyMs);
  return { values, stop: () => clearInterval(timer) };
}

/** Resolves once the torrent service's heartbeat satisfies `match` (heartbeats come every 2 s). */
export function waitForHeartbeat(node: TorrentNode, what: string, match: (h: Heartbeat) => boolean, timeoutMs = 15000): Promise<Heartbeat> {
  return until(`the torrent service's heartbeat to show ${what}`, timeoutMs, async () => {
    const h = await readHeartbeat(node.bus.pub, node.namespace, 'torrent');
    return h && match(h) ? h : undefined;
  }, 200);
}

/** The store's view of a heartbeat (core-spec: facts.store = { reachable, pendingWrites }). */
export function storeFacts(h: Heartbeat): { reachable?: boolean; pendingWrites?: number } {
  return (h.facts.store ?? {}) as { reachable?: boolean; pendingWrites?: number };
}

/** Resolves once `path` holds exactly the shared bytes (sha1 equal), i.e. the download completed on disk. */
export function waitForCompleteOnDisk(path: string, share: Share, timeoutMs = 60000): Promise<true> {
  return until(`${path} to hold all ${share.size} bytes of ${share.name}`, timeoutMs, async () => ((await sha1File(path)) === share.sha1 ? true : undefined), 250);
}

/**
 * Wire bytes a single clean download of `size` bytes costs beyond the payload: 13 bytes of framing per 16 KiB
 * block, the metadata (the .torrent's info dictionary, fetched over ut_metadata) and 8 KiB for handshakes,
 * keep-alives and PEX. Anything above this was downloaded twice.
 */
export function overheadAllowance(size: number, torrentFileBytes: number): number {
  return Math.ceil(size / 16384) * 13 + torrentFileBytes + 8192;
}
