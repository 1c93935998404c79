// Dormant torrents (issue 14): a complete, seeding torrent that no peer is using is not in webtorrent. Each
// torrent webtorrent holds costs ~15 KiB and ~0.2 ms of CPU to add (parse-torrent, the duplicate scan, files,
// pieces and store objects), so 5,000 shares cost 70 MiB and a second at every start although almost none of
// them has a peer at any moment. A dormant torrent stays an entry of torrents.ts (listed, file-checked, seeding
// as far as `bitween ls` and the store know) with what it needs to come back: its .torrent, path and files.
//
// It comes back when a peer asks for it. webtorrent's connection pool (lib/conn-pool.js, 3.0.21) routes an
// incoming connection by asking the client for the torrent the peer names: `client.get(infoHash)` after a
// plain BitTorrent handshake, `client._getByHash(SHA1('req2' + infoHash))` at the MSE/PE step that names it
// (pe3), and awaits both. The hook below answers those two questions for dormant torrents too, by waking the
// torrent (added with skipVerify, as a restart adds it) and returning it once ready: the pool then hands the
// very connection that asked to it, and the peer is served without reconnecting. A stranger never gets this
// far: the friends-only check (peer-filter.ts) drops the socket before webtorrent reads a byte of it.
//
// It goes dormant again once it has had no peer for BITWEEN_DORMANT_AFTER_MS (IdleClock, swept by torrents.ts).
import { createHash } from 'node:crypto';
import type WebTorrent from 'webtorrent';
import type { Torrent } from 'webtorrent';

/** MSE/PE names the torrent by SHA1('req2' + info-hash) (the bytes of the hash), never by the hash itself. */
export function cryptoKeyHash(infoHash: string): string {
  return createHash('sha1').update('req2').update(Buffer.from(infoHash, 'hex')).digest('hex');
}

const INFO_HASH = /^[0-9a-f]{40}$/;

export interface WakeHookOptions {
  /** Wakes the dormant torrent with this info-hash and resolves with it once ready; null when there is none. */
  wake(infoHash: string): Promise<Torrent | null>;
  /** The info-hash whose MSE key hash this is, among the torrents the service knows. */
  infoHashOf(keyHash: string): string | undefined;
  /**
   * Whether a plaintext handshake may wake a torrent. Not with BITWEEN_ENCRYPTION=require: such a peer is
   * dropped anyway (session.ts), and an encrypted one has woken the torrent at its pe3 step already.
   */
  plaintextWakes: boolean;
  /**
   * Resolves once every stored torrent is listed. The session listens before that (the store is read behind
   * `bt_ready`): a peer that connects meanwhile waits for it instead of being turned away.
   */
  listed: Promise<unknown>;
}

/**
 * Puts the wake-up behind webtorrent's two look-ups of an incoming peer's torrent. Checked at start, so a
 * webtorrent that changed these internals fails loudly instead of leaving dormant torrents unreachable.
 */
export function installWakeHook(client: WebTorrent, o: WakeHookOptions): void {
  type Lookup = (this: WebTorrent, key: unknown) => Promise<Torrent | null>;
  const c = client as unknown as { get?: Lookup; _getByHash?: Lookup; _connPool?: { _onConnection?: unknown } };
  const get = c.get;
  const getByHash = c._getByHash;
  if (typeof get !== 'function' || typeof getByHash !== 'function' || typeof c._connPool?._onConnection !== 'function') {
    throw new Error("webtorrent's client is not as in 3.0.21 (get, _getByHash, _connPool._onConnection): dormant torrents could not be woken; pin webtorrent 3.0.21 or set BITWEEN_DORMANT_AFTER_MS=0");
  }
  c.get = async function (this: WebTorrent, id: unknown) {
    const torrent = await get.call(this, id);
    if (torrent || !o.plaintextWakes || typeof id !== 'string' || !INFO_HASH.test(id)) return torrent;
    await o.listed;
    return o.wake(id);
  };
  c._getByHash = async function (this: WebTorrent, keyHash: unknown) {
    const torrent = await getByHash.call(this, keyHash);
    if (torrent || typeof keyHash !== 'string') return torrent;
    await o.listed;
    const infoHash = o.infoHashOf(keyHash);
    return infoHash === undefined ? null : o.wake(infoHash);
  };
}

/**
 * The MSE key hash of every torrent the service knows, to find a dormant one a pe3 step names. Hashed when
 * first asked, not when listed: bt_ready need not wait for 5,000 SHA-1s.
 */
export class KeyHashIndex {
  private readonly byKeyHash = new Map<string, string>();
  private readonly unhashed = new Set<string>();

  add(infoHash: string): void {
    this.unhashed.add(infoHash);
  }

  delete(infoHash: string): void {
    if (!this.unhashed.delete(infoHash)) this.byKeyHash.delete(cryptoKeyHash(infoHash));
  }

  infoHashOf(keyHash: string): string | undefined {
    for (const infoHash of this.unhashed) this.byKeyHash.set(cryptoKeyHash(infoHash), infoHash);
    this.unhashed.clear();
    return this.byKeyHash.get(keyHash);
  }
}

/** When each torrent in the session last had a peer, as successive sweeps saw it. */
export class IdleClock {
  private readonly busyAt = new Map<string, number>();

  /** A torrent that just woke (or was added) counts as busy now. */
  touch(infoHash: string, now = Date.now()): void {
    this.busyAt.set(infoHash, now);
  }

  forget(infoHash: string): void {
    this.busyAt.delete(infoHash);
  }

  /** Whether the torrent has had no peer for `afterMs`; a torrent first seen idle starts its clock now. */
  idleFor(infoHash: string, torrent: Torrent, afterMs: number, now = Date.now()): boolean {
    // Peers still in their handshake (an MSE exchange takes round trips) count too: not `numPeers` yet.
    const pending = (torrent as unknown as { _peers?: Map<string, unknown> })._peers?.size ?? 0;
    if (!torrent.ready || torrent.numPeers > 0 || pending > 0) {
      this.busyAt.set(infoHash, now);
      return false;
    }
    const since = this.busyAt.get(infoHash);
    if (since === undefined) {
      this.busyAt.set(infoHash, now);
      return false;
    }
    return now - since >= afterMs;
  }
}

/** How often idle torrents are looked for: often enough to keep to the setting, at most every 30 s. */
export function sweepIntervalMs(afterMs: number): number {
  return Math.min(30_000, Math.max(50, Math.floor(afterMs / 4)));
}
