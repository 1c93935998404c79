// Write-through persistence: each change of a torrent reaches the store as it happens (metadata, progress
// every BITWEEN_PROGRESS_INTERVAL_MS, done), so a crash loses at most one progress interval.
import type { Torrent } from 'webtorrent';
import { errorMessage } from '../../lib/errors.js';
import { markSeeding, saveMetadata, saveProgress } from '../../lib/store/torrents.js';
import type { TorrentContext } from './context.js';
import { bitfieldOf, verifiedBytes } from './session.js';

/** Torrents the session holds, by lower-case info-hash. */
export type Registry = Map<string, Torrent>;

/** Follows a downloading torrent: metadata (unless the store has it already), then done. */
export function trackDownload(ctx: TorrentContext, torrent: Torrent, infoHash: string, needsMetadata: boolean): void {
  const log = ctx.log.child({ infoHash });
  const onMetadata = async () => {
    try {
      await saveMetadata(ctx.db, infoHash, {
        name: torrent.name,
        totalSize: torrent.length,
        torrentFile: Buffer.from(torrent.torrentFile),
        magnetLink: torrent.magnetURI,
      });
      log.info({ name: torrent.name, size: torrent.length }, 'metadata received');
      await ctx.bus.publish('publish_shares');
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'could not store metadata');
    }
  };
  const onDone = async () => {
    try {
      await markSeeding(ctx.db, infoHash, torrent.length, bitfieldOf(torrent));
      log.info({ name: torrent.name, size: torrent.length }, 'download complete: seeding');
      await ctx.bus.publish('torrent_done', [infoHash]);
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'could not store completion');
    }
  };
  if (needsMetadata) torrent.once('metadata', onMetadata);
  torrent.once('done', onDone);
}

/** Reports a torrent's own errors (a file gone, a disk full) without taking the service down. */
export function reportErrors(ctx: TorrentContext, torrent: Torrent, infoHash: string, registry: Registry): void {
  torrent.on('error', (err: Error) => {
    registry.delete(infoHash);
    void ctx.bus.publishError('torrent', new Error(`torrent ${infoHash} stopped: ${err.message}`), infoHash);
  });
  torrent.on('warning', (err: Error) => ctx.log.debug({ infoHash, warning: err.message }, 'torrent warning'));
}

/**
 * Saves progress of unfinished torrents whose verified bytes changed, and publishes `torrent_progress`
 * (info_hash, bytes_done, total_size, download_speed, peers) for progress bars.
 */
export function startProgressLoop(ctx: TorrentContext, registry: Registry): { flush(): Promise<void>; stop(): void } {
  const last = new Map<string, number>();
  let running: Promise<void> = Promise.resolve();
  const flush = async () => {
    for (const [infoHash, torrent] of registry) {
      if (torrent.destroyed || !torrent.bitfield || torrent.done) continue;
      const bytes = verifiedBytes(torrent);
      if (last.get(infoHash) === bytes) continue;
      last.set(infoHash, bytes);
      try {
        await saveProgress(ctx.db, infoHash, bytes, bitfieldOf(torrent));
        // Not awaited: during a Redis outage the publish waits in ioredis's queue, and the store must
        // keep receiving progress meanwhile.
        ctx.bus
          .publish('torrent_progress', [infoHash, bytes, torrent.length, Math.round(torrent.downloadSpeed), torrent.numPeers])
          .catch((err) => ctx.log.debug({ err: errorMessage(err) }, 'progress not published'));
      } catch (err) {
        ctx.log.warn({ infoHash, err: errorMessage(err) }, 'could not save progress');
      }
    }
  };
  const timer = setInterval(() => {
    running = running.then(flush);
  }, ctx.config.progressIntervalMs);
  timer.unref();
  return {
    flush: () => (running = running.then(flush)),
    stop: () => clearInterval(timer),
  };
}
