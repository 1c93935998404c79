// "Is this torrent fetchable from that peer?" asked the way a downloader asks: a plaintext BitTorrent handshake
// for the info-hash, answered with a handshake and a bitfield (or BEP 6 have-all) that holds every piece. A
// client that has not loaded the torrent yet closes the connection or sends no bitfield. The same question
// for bitween and Transmission, so "every torrent fetchable" means the same for both.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

const PROTOCOL = Buffer.from('\x13BitTorrent protocol', 'latin1');
const MSG_BITFIELD = 5;
const MSG_HAVE_ALL = 0x0e;

/** Resolves true when the peer at 127.0.0.1:port offers every one of `pieces` pieces of `infoHash`; `from` is our address. */
export function probeComplete(port: number, infoHash: string, pieces: number, from = '127.0.0.1', timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    let buf = Buffer.alloc(0);
    let handshaken = false;
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('connect', () => {
      // Reserved bits: BEP 6 (fast) so a peer may answer with have-all; no extension protocol.
      const reserved = Buffer.alloc(8);
      reserved[7] = 0x04;
      socket.write(Buffer.concat([PROTOCOL, reserved, Buffer.from(infoHash, 'hex'), Buffer.from('-BP0001-'), randomBytes(12)]));
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!handshaken) {
        if (buf.length < 68) return;
        if (!buf.subarray(0, 20).equals(PROTOCOL) || buf.subarray(28, 48).toString('hex') !== infoHash) return finish(false);
        handshaken = true;
        buf = buf.subarray(68);
      }
      while (buf.length >= 4) {
        const len = buf.readUInt32BE(0);
        if (buf.length < 4 + len) return;
        const id = len > 0 ? buf[4] : -1;
        const body = buf.subarray(5, 4 + len);
        buf = buf.subarray(4 + len);
        if (id === MSG_HAVE_ALL) return finish(true);
        if (id === MSG_BITFIELD) return finish(hasAll(body, pieces));
      }
    });
  });
}

function hasAll(bitfield: Buffer, pieces: number): boolean {
  for (let i = 0; i < pieces; i++) if ((bitfield[i >> 3]! & (0x80 >> (i & 7))) === 0) return false;
  return true;
}

/**
 * Probes every torrent until each has answered complete once, `concurrency` connections at a time, from the
 * moment it is called (refused connections are retried); resolves with the time of the last first answer.
 */
export async function waitAllFetchable(
  port: () => number | undefined,
  torrents: readonly { infoHash: string; pieces: number }[],
  timeoutMs: number,
  concurrency = 32,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let left = [...torrents];
  while (left.length > 0) {
    if (Date.now() > deadline) throw new Error(`${left.length} of ${torrents.length} torrents not fetchable after ${timeoutMs} ms`);
    const p = port();
    if (p === undefined) {
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    const next: typeof left = [];
    let at = 0;
    // Each worker from its own loopback address: Transmission takes one incoming handshake per address at a time.
    const worker = async (w: number) => {
      while (at < left.length) {
        const t = left[at++]!;
        if (!(await probeComplete(p, t.infoHash, t.pieces, `127.0.0.${2 + w}`))) next.push(t);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, left.length) }, (_, w) => worker(w)));
    if (next.length === left.length) await new Promise((r) => setTimeout(r, 20));
    left = next;
  }
  return Date.now();
}
