// Friends-only peers (issue 12, part 2): with BITWEEN_PEERS=contacts (the default) the torrent service accepts
// an incoming BitTorrent connection only from an address that one of the node's contacts published over XMPP.
// A stranger who knows the port and an info-hash is disconnected before a single byte is answered: no
// encryption handshake, no BitTorrent handshake, no metadata, no pieces. Outgoing connections need no check:
// the service dials only addresses from the same contact lists (dial.ts).
//
// Loopback: with BITWEEN_ALLOW_LOOPBACK=false (the default) every loopback connection is refused, even from an
// address a contact published (dial.ts refuses to dial those too). With it true, a loopback address is
// treated like any other: allowed only if a contact published it. On one machine every node connects from
// 127.0.0.1, so 127.0.0.1 then stands for all the node's contacts there, while a client bound to another
// loopback address (127.0.0.2) is still a stranger (tests rely on that).
//
// The list is a Set of canonical addresses held in memory, read from the store: on start, when the caller
// says contacts' lists changed (`reload()`, on the xmpp service's recheck_handles), every REFRESH_MS, and on
// a connection from an unknown address (at most once per MISS_RELOAD_MS): a contact whose address just
// changed (NAT, IPv6 privacy address) may connect before recheck_handles reaches us.
import type { Server, Socket } from 'node:net';
import type WebTorrent from 'webtorrent';
import { classifyAddress, dialableAddress } from '../../lib/address.js';
import type { Logger } from '../../lib/log.js';
import type { Db } from '../../lib/store/pool.js';
import { allContactAddresses } from '../../lib/store/peers.js';

/** One query over a small table: often enough that a missed recheck_handles costs little. */
export const REFRESH_MS = 30_000;
/** A stranger hammering the port costs at most one store query per this interval. */
export const MISS_RELOAD_MS = 2_000;

export interface PeerFilterOptions {
  db: Db;
  log: Logger;
  allowLoopback: boolean;
  refreshMs?: number;
  missReloadMs?: number;
}

export class PeerFilter {
  private allowed = new Set<string>();
  private missReloadAt = 0;
  /** The reload running now; a reload asked for meanwhile runs after it (it may have read the old lists). */
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refusedCount = 0;

  constructor(private readonly o: PeerFilterOptions) {}

  /** Loads the list and refreshes it every REFRESH_MS. Fails closed: while the store cannot be read, no one is let in. */
  static async open(o: PeerFilterOptions): Promise<PeerFilter> {
    const filter = new PeerFilter(o);
    await filter.reload();
    filter.timer = setInterval(() => void filter.reload(), o.refreshMs ?? REFRESH_MS);
    filter.timer.unref();
    return filter;
  }

  /** Reads contacts' addresses again. Never rejects: on a store error the previous list stays, and it is logged. */
  reload(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.running) return (this.running = this.load().finally(() => (this.running = undefined)));
    this.queued = this.running.then(() => {
      this.queued = undefined;
      return this.reload();
    });
    return this.queued;
  }

  private async load(): Promise<void> {
    try {
      const next = new Set<string>();
      // The rule dial.ts dials by (lib/address.ts), in its canonical spelling: what we would not dial, we do not let in.
      for (const address of await allContactAddresses(this.o.db)) {
        const canonical = dialableAddress(address, { allowLoopback: this.o.allowLoopback });
        if (canonical !== undefined) next.add(canonical);
      }
      this.allowed = next;
      this.o.log.debug({ addresses: next.size }, 'reloaded the contact addresses allowed to connect');
    } catch (err) {
      this.o.log.warn({ err, kept: this.allowed.size }, 'cannot read contact addresses; keeping the list as it was');
    }
  }

  /** Whether a connection from this remote address may go on. A miss rereads the store first, unless one did lately. */
  accepts(remoteAddress: string | undefined): boolean | Promise<boolean> {
    // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; classifyAddress gives the IPv4 spelling.
    const a = classifyAddress(remoteAddress);
    if (a === undefined || (a.kind === 'loopback' && !this.o.allowLoopback)) return false;
    const ip = a.canonical;
    if (this.allowed.has(ip)) return true;
    if (Date.now() - this.missReloadAt < (this.o.missReloadMs ?? MISS_RELOAD_MS)) return false;
    this.missReloadAt = Date.now();
    return this.reload().then(() => this.allowed.has(ip));
  }

  /** For the heartbeat: addresses in the list and connections refused since start. */
  stats(): { addresses: number; refused: number } {
    return { addresses: this.allowed.size, refused: this.refusedCount };
  }

  /**
   * Puts the check in front of webtorrent's incoming connections. webtorrent 3.0.21 has no hook for that (its
   * `blocklist` is a deny-list): its connection pool (lib/conn-pool.js) listens on a net.Server and routes
   * each socket with `_onTCPConnectionBound`. We take that listener off the server and call it ourselves for
   * accepted sockets only. Checked at start, so a webtorrent that changed these internals fails loudly.
   */
  install(client: WebTorrent): void {
    const pool = (client as unknown as { _connPool?: { tcpServer?: Server; _onTCPConnectionBound?: (conn: Socket) => void } })._connPool;
    const server = pool?.tcpServer;
    const route = pool?._onTCPConnectionBound;
    if (!server || typeof route !== 'function' || !server.listeners('connection').includes(route)) {
      throw new Error('webtorrent\'s connection pool is not as in 3.0.21 (_connPool.tcpServer, _onTCPConnectionBound): the friends-only peer check cannot be installed; pin webtorrent 3.0.21 or set BITWEEN_PEERS=any');
    }
    server.removeListener('connection', route);
    server.on('connection', (conn: Socket) => {
      const address = conn.remoteAddress;
      const pass = () => {
        // The session may have closed while the store was read.
        if (conn.destroyed || (client as unknown as { destroyed: boolean }).destroyed) return void conn.destroy();
        route(conn);
      };
      const refuse = () => {
        this.refusedCount++;
        this.o.log.debug({ address }, 'refused a connection from an address no contact published');
        conn.on('error', () => undefined);
        conn.destroy();
      };
      const verdict = this.accepts(address);
      if (verdict === true) pass();
      else if (verdict === false) refuse();
      else void verdict.then((ok) => (ok ? pass() : refuse()));
    });
  }

  close(): void {
    clearInterval(this.timer);
  }
}
