// The webtorrent client, configured for friend-to-friend use: peers come only from addresses learned over
// XMPP, so DHT, trackers, local discovery, PEX and webtorrent's own port mapping (the nat service owns the
// router) are off. uTP is off too: utp-native is a native addon whose install script npm 11 does not run.
import { createCipheriv } from 'node:crypto';
import WebTorrent, { type AddOptions, type Torrent, type Wire } from 'webtorrent';
import type { Config } from '../../lib/config.js';
import { UnavailableError } from '../../lib/errors.js';
import type { PeerFilter } from './peer-filter.js';

export interface SessionOptions {
  port: number;
  uploadLimit: number;
  downloadLimit: number;
  /** BITWEEN_ENCRYPTION; default `prefer`. */
  encryption?: Config['encryption'];
  /** Friends-only peers (BITWEEN_PEERS=contacts): checks every incoming connection before it is answered. */
  peerFilter?: PeerFilter;
}

/**
 * BitTorrent protocol encryption (MSE/PE) as webtorrent's `secure` level. Not level 1 ("PE + plaintext
 * fallback"): a level-1 responder makes the encryption handshake and then picks plaintext for the stream, so
 * two webtorrent peers at level 1 send their BitTorrent handshake and every piece in the clear. Level 2 asks
 * for and picks RC4. At every level webtorrent still answers a peer that opens with a plaintext BitTorrent
 * handshake: that is `prefer`; `require` drops such peers once they are identified (on 'wire'). An outgoing
 * encrypted connection is not retried in plaintext (webtorrent has no such retry), so a peer with encryption
 * off can connect to us but not be connected to. `off`: plaintext only; encrypted peers cannot connect.
 */
const SECURE_LEVEL = { off: 0, prefer: 2, require: 2 } as const;

/** RC4 from OpenSSL: in Node 17+ only with `--openssl-legacy-provider`; else bittorrent-protocol uses its own in JavaScript. */
export const NATIVE_RC4 = (() => {
  try {
    createCipheriv('rc4', Buffer.alloc(16), null);
    return true;
  } catch {
    return false;
  }
})();

/** bittorrent-protocol 5's record of the stream cipher the encryption handshake chose (2 = RC4). */
function isEncrypted(wire: Wire): boolean {
  return (wire as unknown as { _encryptionMethod?: number | null })._encryptionMethod === 2;
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
  // Set here, not as the constructor's `secure` option: webtorrent reads it at each connection, and its
  // constructor writes a raw console.warn (not a log line) when level 2 meets a JavaScript RC4.
  (client as unknown as { secure: number }).secure = SECURE_LEVEL[opts.encryption ?? 'prefer'];
  // Before the port listens: no connection can reach webtorrent unchecked.
  opts.peerFilter?.install(client);
  // Every torrent, from its first wire on: the 'wire' event comes before our extended handshake is sent.
  client.on('add', (torrent: Torrent) => {
    torrent.on('wire', (wire: Wire) => {
      if (opts.encryption === 'require' && !isEncrypted(wire)) return void (wire as unknown as { destroy(): void }).destroy();
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
