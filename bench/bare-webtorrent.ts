// A bare webtorrent 3 client in its own process, the baseline bitween's torrent service is measured against.
// Same switches as bitween's session (no DHT, trackers, LSD, uTP, PEX, port mapping, web seeds), nothing else:
// no bus, no store. Driven by its parent over IPC:
//   seed <file>        → {type:'seeding', port, infoHash, ms}
//   prehash <file>     → the same, but the pieces are hashed here (1 MiB reads, node crypto) and webtorrent
//                        only adds the finished .torrent with skipVerify: what generate_torrent could do
//   leech <dir>        → {type:'ready'}; on {infoHash, peer} → {type:'done', ms, bytes}
// BENCH_BARE_SECURE=0/1/2 sets webtorrent's encryption level (default 1).
import bencode from 'bencode';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import WebTorrent from 'webtorrent';

function send(message: Record<string, unknown>): void {
  if (!process.send) throw new Error('bare-webtorrent.js runs as a child process with an IPC channel');
  process.send(message);
}

function fail(err: unknown): never {
  process.stderr.write(`bare-webtorrent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

const [role, target] = process.argv.slice(2);
if (!['seed', 'prehash', 'leech'].includes(role ?? '') || !target) fail('usage: bare-webtorrent.js seed <file> | prehash <file> | leech <dir>');

/**
 * A single-file .torrent as create-torrent makes it (same info dictionary, so the same info-hash), hashing
 * each piece (1 MiB for 1 GiB) while the next one is read. create-torrent streams the file in 64 KiB chunks and joins them
 * into pieces first, which costs more than the hashing itself.
 */
async function torrentFor(file: string): Promise<Uint8Array> {
  const fh = await open(file);
  try {
    const { size } = await fh.stat();
    // create-torrent's choice (piece-length, capped at 4 MiB): 1 MiB for 1 GiB.
    const pieceLength = Math.min(Math.max(16384, 1 << (Math.log2(size < 1024 ? 1 : size / 1024) + 0.5) | 0), 4 << 20);
    const count = Math.ceil(size / pieceLength);
    const pieces = Buffer.alloc(count * 20);
    const buffers = [Buffer.allocUnsafe(pieceLength), Buffer.allocUnsafe(pieceLength)];
    let reading = fh.read(buffers[0]!, 0, pieceLength, 0);
    for (let i = 0; i < count; i++) {
      const { bytesRead } = await reading;
      if (i + 1 < count) reading = fh.read(buffers[(i + 1) % 2]!, 0, pieceLength, (i + 1) * pieceLength);
      createHash('sha1').update(buffers[i % 2]!.subarray(0, bytesRead)).digest().copy(pieces, i * 20);
    }
    return bencode.encode({ 'created by': 'bench', info: { length: size, name: basename(file), 'piece length': pieceLength, pieces } });
  } finally {
    await fh.close();
  }
}

const client = new WebTorrent({
  dht: false,
  tracker: false,
  lsd: false,
  utPex: false,
  utp: false,
  natUpnp: false,
  natPmp: false,
  webSeeds: false,
  torrentPort: 0,
});
// BENCH_BARE_SECURE: webtorrent's protocol-encryption level (its default is 1: MSE handshake, then the stream
// in plaintext); bench:transfer sets 2 (RC4) for a seeder encrypting as bitween's does.
if (process.env.BENCH_BARE_SECURE) (client as unknown as { secure: number }).secure = Number(process.env.BENCH_BARE_SECURE);
client.on('error', fail);
await new Promise<void>((resolve) => (client.listening ? resolve() : client.once('listening', () => resolve())));

if (role === 'seed') {
  const started = performance.now();
  const torrent = client.seed(target, { announce: [], announceList: [] }, (t) => {
    send({ type: 'seeding', port: client.torrentPort, infoHash: t.infoHash, ms: performance.now() - started });
  });
  torrent.on('error', fail);
} else if (role === 'prehash') {
  const started = performance.now();
  const torrent = client.add(await torrentFor(target), { path: dirname(target), skipVerify: true }, (t) => {
    send({ type: 'seeding', port: client.torrentPort, infoHash: t.infoHash, ms: performance.now() - started });
  });
  torrent.on('error', fail);
} else {
  process.on('message', (msg: { infoHash: string; peer: string }) => {
    const started = performance.now();
    const torrent = client.add(`magnet:?xt=urn:btih:${msg.infoHash}`, { path: target });
    torrent.on('error', fail);
    // addPeer throws until the torrent has parsed its info-hash, which webtorrent does asynchronously.
    torrent.once('infoHash', () => torrent.addPeer(msg.peer));
    torrent.once('done', () => send({ type: 'done', ms: performance.now() - started, bytes: torrent.length }));
  });
  send({ type: 'ready' });
}

// The parent stops this process by pid (SIGTERM); leave at once, the benchmark has what it needs.
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
