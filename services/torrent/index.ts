// bitween-torrent: the BitTorrent session. Shares files, fetches contacts' shares, persists every torrent.
import { runService } from '../../lib/service.js';
import { runAll } from '../../lib/shutdown.js';
import { setState, StateKey } from '../../lib/store/state.js';
import { listTorrents } from '../../lib/store/torrents.js';
import type { TorrentContext } from './context.js';
import { TorrentHandlers } from './handlers.js';
import { torrentHealth } from './health.js';
import { PeerFilter } from './peer-filter.js';
import { openSession } from './session.js';
import { Torrents } from './torrents.js';

/** Of the 8 s shutdown deadline (lib/shutdown.ts), how long the store may take to accept what is queued. */
const FLUSH_ON_STOP_MS = 4000;

await runService('torrent', async ({ config, log, bus, db }) => {
  // Friends-only peers (BITWEEN_PEERS): reloaded on recheck_handles (handlers), every 30 s, and on a miss.
  const peerFilter = config.peers === 'contacts' ? await PeerFilter.open({ db, log, allowLoopback: config.allowLoopback }) : undefined;
  const client = await openSession({ port: config.torrentPort, uploadLimit: config.uploadLimit, downloadLimit: config.downloadLimit, encryption: config.encryption, peerFilter });
  const port = client.torrentPort;
  const ctx: TorrentContext = { client, db, bus, config, log, peerFilter };
  // Errors of torrents reach the torrent's own listener (torrents.ts); this is for the client itself.
  client.on('error', (err: Error) => log.error({ err }, 'BitTorrent client error'));

  const torrents = new Torrents(ctx);
  const started = Date.now();
  const states = await torrents.restore(await listTorrents(db));
  torrents.startTimers();
  // Current state for services that start later (pub/sub does not replay bt_ready).
  await setState(db, StateKey.torrentPort, { port });
  await bus.publish('bt_ready', [port]);
  log.info({ port, torrents: torrents.size, states, ms: Date.now() - started }, 'listening for peers');

  return {
    handlers: new TorrentHandlers(ctx, torrents),
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
        downloading: live.filter((e) => !e.torrent!.done).length,
        peers: live.reduce((n, e) => n + (e.torrent!.numPeers ?? 0), 0),
        downloadSpeed: Math.round(client.downloadSpeed),
        uploadSpeed: Math.round(client.uploadSpeed),
        // Per torrent only for those moving bytes or unfinished: the heartbeat stays small with 5,000 shares.
        transfers: live
          .filter((e) => !e.torrent!.done || e.torrent!.numPeers > 0)
          .map(({ infoHash, torrent: t }) => ({
            infoHash,
            peers: t!.numPeers,
            downloadSpeed: Math.round(t!.downloadSpeed),
            uploadSpeed: Math.round(t!.uploadSpeed),
          })),
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
