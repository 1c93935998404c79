// The webtorrent client, configured for friend-to-friend use: peers come only from addresses learned over
// XMPP, so DHT, trackers, local discovery, PEX and webtorrent's own port mapping (the nat service owns the
// router) are off. uTP is off too: utp-native is a native addon whose install script npm 11 does not run.
import WebTorrent, { type AddOptions, type Torrent, type Wire } from 'webtorrent';
import { UnavailableError } from '../../lib/errors.js';

export interface SessionOptions {
  port: number;
  uploadLimit: number;
  downloadLimit: number;
}

/**
 * How many block requests we queue for a peer, told to every peer in the BEP 10 extended handshake (`reqq`;
 * 250 is libtorrent's default, the value BEP 10 names). webtorrent keeps to it when the peer says it; without
 * it webtorrent keeps about one second of blocks requested (~9,000 at 150 MB/s over loopback) and searches
 * that list for every block that arrives. 4 MiB in flight still fills an 80 MB/s link at 50 ms round trip.
 */
export const REQUEST_QUEUE = 250;

/** No trackers in the torrents we create: create-torrent adds public ones unless told otherwise. */
export const NO_TRACKERS: AddOptions = { announce: [], announceList: [] };

export async function openSession(opts: SessionOptions): Promise<WebTorrent> {
  const client = new WebTorrent({
    dht: false,
    tracker: false,
    lsd: false,
    utPex: false,
    utp: false,
    natUpnp: false,
    natPmp: false,
    webSeeds: false,
    torrentPort: opts.port,
    // webtorrent reads -1 as "no limit"
    uploadLimit: opts.uploadLimit > 0 ? opts.uploadLimit : -1,
    downloadLimit: opts.downloadLimit > 0 ? opts.downloadLimit : -1,
  });
  // Every torrent, from its first wire on: the 'wire' event comes before our extended handshake is sent.
  client.on('add', (torrent: Torrent) => {
    torrent.on('wire', (wire: Wire) => {
      wire.extendedHandshake.reqq = REQUEST_QUEUE;
    });
  });
  await new Promise<void>((resolve, reject) => {
    if (client.listening) return resolve();
    const onError = (err: Error & { code?: string }) => {
      client.destroy();
      reject(
        new UnavailableError(
          err.code === 'EADDRINUSE'
            ? `BitTorrent port ${opts.port} is in use: stop what holds it or set BITWEEN_TORRENT_PORT to another port (0 = any)`
            : `cannot listen for BitTorrent peers: ${err.message}`,
        ),
      );
    };
    client.once('error', onError);
    client.once('listening', () => {
      client.off('error', onError);
      resolve();
    });
  });
  return client;
}

/**
 * Resolves once the torrent is set up for its info-hash (addPeer throws before); rejects on its error.
 * Call it right after `client.add`: webtorrent emits 'infoHash' asynchronously, never during add.
 */
export function whenInfoHash(torrent: Torrent): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    torrent.once('error', onError);
    torrent.once('infoHash', () => {
      torrent.off('error', onError);
      resolve();
    });
  });
}

/** Bytes in verified pieces: what is really on disk, unlike `downloaded`, which counts wasted bytes too. */
export function verifiedBytes(torrent: Torrent): number {
  const bf = torrent.bitfield;
  if (!bf || !torrent.pieces) return 0;
  const n = torrent.pieces.length;
  let have = 0;
  for (let i = 0; i < n - 1; i++) if (bf.get(i)) have++;
  return have * torrent.pieceLength + (n > 0 && bf.get(n - 1) ? torrent.lastPieceLength : 0);
}

export function bitfieldOf(torrent: Torrent): Buffer | null {
  return torrent.bitfield ? Buffer.from(torrent.bitfield.buffer) : null;
}
