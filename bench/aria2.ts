// The aria2 → aria2 baseline: a private opentracker on 127.0.0.1 that knows only our info-hash, an aria2c
// seeder and an aria2c leecher driven over aria2's JSON-RPC (loopback only). Debian's opentracker is the
// whitelist-only build; it chroots to -d and reads -w after that, so -d / with an absolute -w path.
import { randomBytes } from 'node:crypto';
import { existsSync, watch } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import bencode from 'bencode';
import { spawnChild, until, type Child } from './child.js';

export interface Tracker extends Child {
  announce: string;
  /** Seeders the tracker knows for the hash (from /scrape). */
  seeders(infoHash: string): Promise<number>;
}

export async function startTracker(dir: string, port: number, infoHash: string): Promise<Tracker> {
  const whitelist = join(dir, 'whitelist.txt');
  await writeFile(whitelist, `${infoHash}\n`);
  // opentracker drops to user nobody, who must still read the whitelist.
  await chmod(dir, 0o755);
  await chmod(whitelist, 0o644);
  const { child } = spawnChild('opentracker', ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-w', whitelist, '-d', '/']);
  const base = `http://127.0.0.1:${port}`;
  const tracker: Tracker = {
    ...child,
    announce: `${base}/announce`,
    async seeders(hash) {
      const res = await fetch(`${base}/scrape?info_hash=${escapeBytes(Buffer.from(hash, 'hex'))}`);
      const body = bencode.decode(new Uint8Array(await res.arrayBuffer()));
      const entry = Object.values(body.files ?? {})[0] as { complete?: number } | undefined;
      return entry?.complete ?? 0;
    },
  };
  try {
    await until('opentracker to answer', 5000, async () => ((await fetch(`${base}/scrape`)).ok ? true : undefined));
  } catch (err) {
    await child.stop();
    throw new Error(`${(err as Error).message}; output: ${child.output.join(' | ')}`);
  }
  return tracker;
}

function escapeBytes(bytes: Buffer): string {
  return [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

/** The same .torrent with an announce URL: the info dictionary, and so the info-hash, stay the same. */
export function withAnnounce(torrentFile: Uint8Array, announce: string): Uint8Array {
  const meta = bencode.decode(torrentFile);
  meta.announce = new TextEncoder().encode(announce);
  delete meta['announce-list'];
  return bencode.encode(meta);
}

/** Options both aria2c processes share: BitTorrent from the tracker only, IPv4, quiet. */
const COMMON = [
  '--enable-dht=false',
  '--enable-dht6=false',
  '--bt-enable-lpd=false',
  '--enable-peer-exchange=false',
  '--disable-ipv6=true',
  '--summary-interval=0',
  '--show-console-readout=false',
  '--console-log-level=warn',
  '--no-conf=true',
];

/** aria2c seeding `file` (which lies in `dir`) after a full hash check; ready once the tracker lists it. */
export async function startAria2Seeder(torrentPath: string, dir: string, listenPort: number, tracker: Tracker, infoHash: string): Promise<Child> {
  const { child } = spawnChild('aria2c', [
    ...COMMON,
    `--listen-port=${listenPort}`,
    '--seed-ratio=0.0',
    '--check-integrity=true',
    `--dir=${dir}`,
    torrentPath,
  ]);
  try {
    await until('the aria2c seeder to announce itself complete', 120000, async () => ((await tracker.seeders(infoHash)) > 0 ? true : undefined), 100);
  } catch (err) {
    await child.stop();
    throw new Error(`${(err as Error).message}; aria2c output: ${child.output.slice(-10).join(' | ')}`);
  }
  return child;
}

export interface Aria2Leecher extends Child {
  /** Adds the torrent; resolves with the ms until aria2 reports the download complete (before it would seed). */
  fetch(torrentFile: Uint8Array, dir: string, timeoutMs: number): Promise<number>;
}

/**
 * aria2c in RPC mode: the process is up and idle before the measured download starts (as the other two
 * leechers are), and stays alive after it, so /proc still has its figures. Completion comes from aria2's own
 * --on-bt-download-complete hook writing a file, watched here, not from polling.
 */
export async function startAria2Leecher(work: string, listenPort: number, rpcPort: number): Promise<Aria2Leecher> {
  const secret = randomBytes(12).toString('hex');
  const hook = join(work, 'on-complete.sh');
  const marker = join(work, 'completed');
  await writeFile(hook, `#!/bin/sh\necho "$1" > '${marker}.tmp' && mv '${marker}.tmp' '${marker}'\n`, { mode: 0o755 });
  const { child } = spawnChild('aria2c', [
    ...COMMON,
    '--enable-rpc=true',
    '--rpc-listen-all=false',
    `--rpc-listen-port=${rpcPort}`,
    `--rpc-secret=${secret}`,
    `--listen-port=${listenPort}`,
    '--seed-time=0',
    '--file-allocation=falloc',
    `--on-bt-download-complete=${hook}`,
  ]);
  const rpc = async (method: string, params: unknown[]): Promise<unknown> => {
    const res = await fetch(`http://127.0.0.1:${rpcPort}/jsonrpc`, {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: [`token:${secret}`, ...params] }),
    });
    const body = (await res.json()) as { result?: unknown; error?: { message: string } };
    if (body.error) throw new Error(`aria2 ${method}: ${body.error.message}`);
    return body.result;
  };
  try {
    await until('aria2c RPC to answer', 5000, () => rpc('aria2.getVersion', []));
  } catch (err) {
    await child.stop();
    throw new Error(`${(err as Error).message}; aria2c output: ${child.output.slice(-10).join(' | ')}`);
  }
  return {
    ...child,
    async fetch(torrentFile, dir, timeoutMs) {
      let watcher: ReturnType<typeof watch> | undefined;
      let timer: NodeJS.Timeout | undefined;
      const done = new Promise<number>((resolve, reject) => {
        watcher = watch(work, () => {
          if (existsSync(marker)) resolve(performance.now());
        });
        timer = setTimeout(() => reject(new Error(`aria2c leecher did not finish in ${timeoutMs} ms`)), timeoutMs);
        void child.exited.then((code) => reject(new Error(`aria2c leecher exited (${code}); output: ${child.output.slice(-10).join(' | ')}`)));
      });
      const started = performance.now();
      try {
        await rpc('aria2.addTorrent', [Buffer.from(torrentFile).toString('base64'), [], { dir }]);
        return (await done) - started;
      } finally {
        watcher?.close();
        clearTimeout(timer);
      }
    },
  };
}
