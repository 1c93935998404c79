// bitween-torrent, started by index.ts: the BitTorrent session. Shares files, fetches contacts' shares, persists every torrent.
import { runService } from '../../lib/service.js';
import { runAll } from '../../lib/shutdown.js';
import { setState, StateKey } from '../../lib/store/state.js';
import { listTorrentsToRestore, ratioOf } from '../../lib/store/torrents.js';
import type { TorrentContext } from './context.js';
import { TorrentHandlers } from './handlers.js';
import { RateLimits, startingLimits } from './limits.js';
import { torrentHealth } from './health.js';
import { PeerFilter } from './peer-filter.js';
import { setMaxOpenFiles } from './open-files.js';
import { openSession } from './session.js';
import { Torrents, totalsOf } from './torrents.js';

/** Of the 8 s shutdown deadline (lib/shutdown.ts), how long the store may take to accept what is queued. */
const FLUSH_ON_STOP_MS = 4000;

await runService('torrent', async ({ config, log, bus, db }) => {
  const started = Date.now();
  // Both reads go out together (a round trip each).
  const [peerFilter, start] = await Promise.all([
    // Friends-only peers (BITWEEN_PEERS): reloaded on recheck_handles (handlers), every 30 s, and on a miss.
    config.peers === 'contacts' ? PeerFilter.open({ db, log, allowLoopback: config.allowLoopback }) : undefined,
    // Limits changed at run time (set_limits) are stored and win over BITWEEN_UPLOAD_LIMIT / BITWEEN_DOWNLOAD_LIMIT.
    startingLimits(db, config),
  ]);
  const client = await openSession({ port: config.torrentPort, uploadLimit: start.limits.upload, downloadLimit: start.limits.download, encryption: config.encryption, peerFilter });
  const port = client.torrentPort;
  const ctx: TorrentContext = { client, db, bus, config, log, peerFilter };
  // Errors of torrents reach the torrent's own listener (torrents.ts); this is for the client itself.
  client.on('error', (err: Error) => log.error({ err }, 'BitTorrent client error'));

  const torrents = new Torrents(ctx);
  const limits = new RateLimits(client, torrents.journal, bus, start.limits, start.from);
  setMaxOpenFiles(config.maxOpenFiles);
  // Requests wait until every stored torrent is back in the session or failed (afterRestore), so each one
  // finds every torrent where a restart left it. Rejected only when the store's list cannot be read, which
  // fails the start.
  const restore = {} as { resolve(): void; reject(err: unknown): void };
  const restored = new Promise<void>((resolve, reject) => Object.assign(restore, { resolve, reject }));
  restored.catch(() => undefined); // no request may be waiting: not an unhandled rejection

  return {
    handlers: afterRestore(new TorrentHandlers(ctx, torrents, limits), restored),
    // bt_ready as soon as the session listens and requests are taken. The store's list of torrents is read
    // behind it (5,000 rows: ~100 ms in a process whose code is still cold), and a peer that connects meanwhile
    // waits for it (dormant.ts); the torrents join the session behind that (about a second for 5,000).
    async ready() {
      // Current state for services that start later (pub/sub does not replay bt_ready).
      await setState(db, StateKey.torrentPort, { port });
      await bus.publish('bt_ready', [port]);
      // Since the process started, module loading included: what a restart costs before bt_ready.
      const uptimeMs = Math.round(performance.now());
      let listed: ReturnType<Torrents['list']>;
      try {
        listed = torrents.list(await listTorrentsToRestore(db));
      } catch (err) {
        restore.reject(err);
        throw err;
      }
      log.info({ port, torrents: torrents.size, uptimeMs, listedMs: Math.round(performance.now()) - uptimeMs }, 'listening for peers');
      void torrents.resumeAll(listed).then((states) => {
        torrents.startTimers();
        log.info({ torrents: torrents.size, states, ms: Date.now() - started }, 'torrents restored');
      }).catch((err: unknown) => log.error({ err }, 'restoring torrents failed')).finally(() => restore.resolve());
    },
    facts: () => {
      const live = [...torrents.all()].filter((e) => e.torrent !== undefined);
      const states = torrents.states();
      const store = { reachable: torrents.journal.reachable, pendingWrites: torrents.journal.size };
      return {
        health: torrentHealth({ port, torrents: torrents.size, states, store }),
        port,
        torrents: torrents.size,
        states,
        store,
        // Who may connect: `any`, or how many contact addresses are let in and how many strangers were refused.
        peersAllowed: peerFilter ? peerFilter.stats() : 'any',
        downloading: live.filter((e) => e.status !== 'seeding').length,
        paused: torrents.pausedCount(),
        // Seeding torrents out of webtorrent until a peer asks for one (dormant.ts); counted in `states.seeding` too.
        dormant: torrents.dormantCount(),
        // Bytes per second, 0 = none; `from`: the config until set_limits ran once, then the store.
        limits: { ...limits.current, from: limits.from },
        peers: live.reduce((n, e) => n + (e.torrent!.numPeers ?? 0), 0),
        downloadSpeed: Math.round(client.downloadSpeed),
        uploadSpeed: Math.round(client.uploadSpeed),
        // Per torrent only for those moving bytes or unfinished: the heartbeat stays small with 5,000 shares.
        transfers: live
          .filter((e) => e.status !== 'seeding' || e.torrent!.numPeers > 0)
          .map((e) => {
            const t = e.torrent!;
            // Totals over every run (as the store keeps them), with this session's bytes in.
            const { uploaded, downloaded } = totalsOf(e);
            return {
              infoHash: e.infoHash,
              peers: t.numPeers,
              downloadSpeed: Math.round(t.downloadSpeed),
              uploadSpeed: Math.round(t.uploadSpeed),
              uploaded,
              downloaded,
              ratio: ratioOf(uploaded, downloaded, e.totalSize),
            };
          }),
      };
    },
    async close() {
      await runAll(log, [
        ['save state', () => torrents.close(FLUSH_ON_STOP_MS)],
        ['close the session', () => new Promise<void>((done) => client.destroy(() => done()))],
        ['stop the peer list refresh', () => peerFilter?.close()],
      ]);
    },
  };
});

/** The handlers, each of which first waits for the restore to finish (errors stay per torrent; only a store list that cannot be read fails it, and the start with it). */
function afterRestore<T extends object>(handlers: T, restored: Promise<void>): T {
  return new Proxy(handlers, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || !prop.startsWith('on_') || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await restored;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
