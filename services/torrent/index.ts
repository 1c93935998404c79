// bitween-torrent: the BitTorrent session. Shares files, fetches contacts' shares, persists every torrent.
import { runService } from '../../lib/service.js';
import { runAll } from '../../lib/shutdown.js';
import { setState, StateKey } from '../../lib/store/state.js';
import type { TorrentContext } from './context.js';
import { TorrentHandlers } from './handlers.js';
import { restoreTorrents } from './restore.js';
import { openSession } from './session.js';
import { startProgressLoop, type Registry } from './track.js';

await runService('torrent', async ({ config, log, bus, db }) => {
  const client = await openSession({ port: config.torrentPort, uploadLimit: config.uploadLimit, downloadLimit: config.downloadLimit });
  const port = client.torrentPort;
  const ctx: TorrentContext = { client, db, bus, config, log };
  const registry: Registry = new Map();
  client.on('error', (err: Error) => void bus.publishError('torrent', err, ''));

  const restored = await restoreTorrents(ctx, registry);
  const progress = startProgressLoop(ctx, registry);
  // Current state for services that start later (pub/sub does not replay bt_ready).
  await setState(db, StateKey.torrentPort, { port });
  await bus.publish('bt_ready', [port]);
  log.info({ port, restored }, 'listening for peers');

  return {
    handlers: new TorrentHandlers(ctx, registry),
    facts: () => ({
      port,
      torrents: registry.size,
      downloading: [...registry.values()].filter((t) => !t.done).length,
      peers: [...registry.values()].reduce((n, t) => n + (t.numPeers ?? 0), 0),
      downloadSpeed: Math.round(client.downloadSpeed),
      uploadSpeed: Math.round(client.uploadSpeed),
      // Per torrent only for those moving bytes or unfinished: the heartbeat stays small with 5,000 shares.
      transfers: [...registry.entries()]
        .filter(([, t]) => !t.done || t.numPeers > 0)
        .map(([infoHash, t]) => ({
          infoHash,
          peers: t.numPeers,
          downloadSpeed: Math.round(t.downloadSpeed),
          uploadSpeed: Math.round(t.uploadSpeed),
        })),
    }),
    async close() {
      await runAll(log, [
        ['stop progress timer', () => progress.stop()],
        ['save progress', () => progress.flush()],
        ['close the session', () => new Promise<void>((done) => client.destroy(() => done()))],
      ]);
    },
  };
});
