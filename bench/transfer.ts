// Transfer and hashing benchmark (issue 3): in one run, on one random file (1 GiB unless BENCH_SIZE_MB says
// otherwise), over loopback only:
//   1. bitween torrent service → bitween torrent service (real processes, own namespaces and databases)
//   2. bare webtorrent 3 → bare webtorrent 3 (two node processes, same switches, no bus, no store)
//   3. aria2c → aria2c through a private opentracker
//   4. sharing (hashing) the file: bitween generate_torrent, bare webtorrent seed(), node's SHA-1 in 1 MiB pieces,
//      and a prototype that hashes the pieces itself and hands webtorrent the finished .torrent
//   5. serving to a stock libtorrent client (Debian python3-libtorrent, default settings): the same libtorrent
//      leecher fetches the file once from bitween's seeder and once from the bare webtorrent seeder
// and prints MB/s, bitween's ratios to the baselines, and the leecher's peak RSS and CPU seconds.
// bitween's nodes run as pm2 runs them (ecosystem.config.js, its node_args as NODE_OPTIONS): encryption on
// (BITWEEN_ENCRYPTION=prefer) with OpenSSL's RC4 (node --openssl-legacy-provider). BENCH_ENCRYPTION=1 adds, in
// the same run, bitween → bitween with BITWEEN_ENCRYPTION=off and with RC4 in JavaScript (no legacy provider),
// each with its own seeder, and prints the ratios.
// Usage: npm run bench:transfer [-- --size-mb=N --runs=N]   (or BENCH_SIZE_MB, BENCH_RUNS)
import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getTorrent } from '../lib/store/torrents.js';
import { sha1File } from '../test/helpers/files.js';
import { freePort } from '../test/helpers/ports.js';
import { createTorrentNode, storeContactAddress, storeContactShare, type TorrentNode } from '../test/helpers/torrent-node.js';
import { startAria2Leecher, startAria2Seeder, startTracker, withAnnounce } from './aria2.js';
import { spawnChild, type Child } from './child.js';
import { ecosystemApp } from './ecosystem.js';
import { startLibtorrentLeecher } from './libtorrent.js';
import { readProcStats, type ProcStats } from './proc-stats.js';

const MB = 1e6;
const MiB = 1 << 20;

function option(flag: string, envName: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${flag}=`));
  const raw = arg ? arg.slice(flag.length + 3) : process.env[envName];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`--${flag} / ${envName} must be a positive integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

const SIZE = option('size-mb', 'BENCH_SIZE_MB', 1024) * MiB;
const RUNS = option('runs', 'BENCH_RUNS', 5);
/** BENCH_ONLY=bitween,webtorrent: run only these transfers (investigating); the summary then lacks ratios. */
const ONLY = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
/** BENCH_VERBOSE=1: print bitween B's torrent_progress messages (a timeline of each bitween transfer). */
const VERBOSE = Boolean(process.env.BENCH_VERBOSE);
/** Generous: a stalled transfer should fail the run, not hang it. */
const TRANSFER_TIMEOUT_MS = Math.max(60000, (SIZE / (5 * MB)) * 1000);
/** The service's own default: the benchmark measures bitween as it ships unless told otherwise. */
const SERVICE_ENV: Record<string, string> = {
  BITWEEN_LOG_LEVEL: process.env.BITWEEN_LOG_LEVEL ?? 'info',
  BITWEEN_PROGRESS_INTERVAL_MS: process.env.BITWEEN_PROGRESS_INTERVAL_MS ?? '2000',
};
/** BENCH_BITWEEN_NODE_OPTIONS: NODE_OPTIONS for bitween's two service processes only, to try e.g. V8 flags. */
const BITWEEN_NODE_OPTIONS = process.env.BENCH_BITWEEN_NODE_OPTIONS ?? '';
/** BENCH_ENCRYPTION=1: also bitween with encryption off and with native RC4 (see the header). */
const ENCRYPTION = Boolean(process.env.BENCH_ENCRYPTION);
/** Node's RC4 is in OpenSSL's legacy provider (Node 17+); without it bittorrent-protocol runs RC4 in JavaScript. */
const NATIVE_RC4_OPTION = '--openssl-legacy-provider';
/** node's options for bitween's torrent service as pm2 gives them (its RC4 option and V8 heap sizing among them). */
const TORRENT_NODE_ARGS = (await ecosystemApp('torrent')).nodeArgs;
const TORRENT_NODE_OPTIONS = TORRENT_NODE_ARGS.join(' ');
/** BENCH_CPU_PROF=<dir>: the leechers (bitween B, bare webtorrent) write V8 CPU profiles and GC counts there. */
const CPU_PROF = process.env.BENCH_CPU_PROF;
const PROFILE_PRELOAD = `--import=${fileURLToPath(new URL('./cpu-profile.js', import.meta.url))}`;
/**
 * BENCH_PERF=<dir>: Linux perf samples every leecher during its transfer (all threads, kernel included, call
 * graphs) into <dir>/leecher-<pid>.perf.data; node leechers also get --perf-basic-prof (JavaScript names in
 * /tmp/perf-<pid>.map). Read with `perf report -i <file>`. A CPU profile (BENCH_CPU_PROF) counts only the main
 * thread's JavaScript and wall time; this counts CPU time where it is spent (RC4, SHA-1, copies, GC threads,
 * socket and file syscalls).
 */
const PERF = process.env.BENCH_PERF;
/**
 * BENCH_B_NODE_OPTIONS=<options>: an A/B in the same run: adds `bitween-b`, bitween → bitween with its own seeder
 * and both ends started with these NODE_OPTIONS besides the usual ones (a V8 flag, or `--import` of a hook that
 * loads a patched module), interleaved with the others; prints B's speed, CPU and RSS against bitween's per run.
 */
const B_NODE_OPTIONS = process.env.BENCH_B_NODE_OPTIONS;

function nodeOptions(...parts: (string | false | undefined)[]): Record<string, string> {
  const joined = [...parts, PERF && '--perf-basic-prof'].filter(Boolean).join(' ');
  return { ...(CPU_PROF ? { BENCH_CPU_PROF: CPU_PROF } : {}), ...(joined ? { NODE_OPTIONS: joined } : {}) };
}

// ---- cleanup: everything started is undone in reverse order, on success, failure and Ctrl-C ----

const cleanups: [string, () => Promise<unknown>][] = [];
function onCleanup(what: string, fn: () => Promise<unknown>): void {
  cleanups.push([what, fn]);
}
async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const [what, fn] = cleanups.pop()!;
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`cleanup: ${what} failed: ${(err as Error).message}\n`);
    }
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: cleaning up\n`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

// ---- measurements ----

interface TransferRun {
  ms: number;
  /** libtorrent leecher only: the stream cipher it negotiated with the seeder, and ms to its first payload byte. */
  encryption?: string;
  firstByteMs?: number;
  leecher: ProcStats;
  /** CPU seconds the leecher used between the start and the end of the transfer. */
  leecherCpuDuring: number;
  seederCpuDuring: number;
}

function mbps(bytes: number, ms: number): number {
  return bytes / MB / (ms / 1000);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** test/helpers' writeRandomFile holds the whole file in memory; this writes 16 MiB at a time. */
async function writeLargeRandomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    const buf = Buffer.alloc(16 * MiB);
    for (let pos = 0; pos < size; pos += buf.length) {
      const n = Math.min(buf.length, size - pos);
      randomFillSync(buf, 0, n);
      await fh.write(buf, 0, n, pos);
    }
  } finally {
    await fh.close();
  }
}

/** node's SHA-1 over the file in 1 MiB pieces, as BitTorrent v1 hashes pieces, reading the file itself. */
async function sha1Pieces(path: string): Promise<number> {
  const started = performance.now();
  const fh = await open(path);
  try {
    const buf = Buffer.alloc(MiB);
    for (let pos = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      createHash('sha1').update(buf.subarray(0, bytesRead)).digest();
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return performance.now() - started;
}

async function shareOn(node: TorrentNode, path: string): Promise<{ ms: number; infoHash: string; name: string }> {
  const since = node.bus.mark();
  const started = performance.now();
  await node.bus.publish('generate_torrent', [path]);
  const added = await node.bus.waitFor('torrent_added', (m) => m.kwargs.path === path, TRANSFER_TIMEOUT_MS, since);
  return { ms: performance.now() - started, infoHash: String(added.args[0]), name: String(added.kwargs.name) };
}

async function startNode(name: string, profile = false, variant: Record<string, string> = { NODE_OPTIONS: TORRENT_NODE_OPTIONS }): Promise<TorrentNode> {
  const node = await createTorrentNode(name, { ...SERVICE_ENV, ...nodeOptions(BITWEEN_NODE_OPTIONS, variant.NODE_OPTIONS, profile && CPU_PROF && PROFILE_PRELOAD), ...(variant.BITWEEN_ENCRYPTION ? { BITWEEN_ENCRYPTION: variant.BITWEEN_ENCRYPTION } : {}) });
  onCleanup(`bitween node ${node.namespace}`, () => node.cleanup());
  await node.start();
  return node;
}

function barePath(): string {
  return fileURLToPath(new URL('./bare-webtorrent.js', import.meta.url));
}

/** Starts bare-webtorrent.js; resolves with its first IPC message. */
async function startBare(args: string[], env: Record<string, string> = {}): Promise<{ child: Child; first: Record<string, unknown>; next(type: string, timeoutMs: number): Promise<Record<string, unknown>>; send(m: object): void }> {
  const { proc, child } = spawnChild(process.execPath, [barePath(), ...args], { ipc: true, env: { ...env, ...nodeOptions(process.env.NODE_OPTIONS, env.NODE_OPTIONS, args[0] === 'leech' && CPU_PROF && PROFILE_PRELOAD) } });
  onCleanup(`bare webtorrent ${child.pid}`, () => child.stop());
  const next = (type: string, timeoutMs: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bare webtorrent (${args[0]}) sent no ${type} in ${timeoutMs} ms; output: ${child.output.join(' | ')}`)), timeoutMs);
      const onMessage = (m: Record<string, unknown>) => {
        if (m.type !== type) return;
        clearTimeout(timer);
        proc.off('message', onMessage);
        resolve(m);
      };
      proc.on('message', onMessage);
      void child.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`bare webtorrent (${args[0]}) exited (${code}); output: ${child.output.join(' | ')}`));
      });
    });
  const firstType = args[0] === 'leech' ? 'ready' : 'seeding';
  const first = await next(firstType, TRANSFER_TIMEOUT_MS);
  return { child, first, next, send: (m) => proc.send(m) };
}

/** Runs one measured transfer: figures of both processes before and after, then checks the bytes. */
async function measure(seederPid: number, leecherPid: number, fetch: () => Promise<number>, downloaded: string, digest: string): Promise<TransferRun> {
  const perf = PERF ? spawnChild('perf', ['record', '-q', '-F', '997', '-g', '-p', String(leecherPid), '-o', join(PERF, `leecher-${leecherPid}.perf.data`)]).child : undefined;
  const [l0, s0] = await Promise.all([readProcStats(leecherPid), readProcStats(seederPid)]);
  const ms = await fetch();
  const [l1, s1] = await Promise.all([readProcStats(leecherPid), readProcStats(seederPid)]);
  await perf?.stop();
  const got = await sha1File(downloaded);
  if (got !== digest) throw new Error(`${downloaded} differs from the source (sha1 ${got}, expected ${digest})`);
  return { ms, leecher: l1, leecherCpuDuring: l1.cpuSeconds - l0.cpuSeconds, seederCpuDuring: s1.cpuSeconds - s0.cpuSeconds };
}

// ---- the run ----

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bitween-bench-'));
  onCleanup(`temp folder ${work}`, () => rm(work, { recursive: true, force: true }));
  // opentracker drops to user nobody and then reads its whitelist below this folder (mkdtemp makes it 0700).
  await chmod(work, 0o755);
  const srcDir = join(work, 'src');
  await mkdir(srcDir);
  const source = join(srcDir, 'random.bin');
  process.stdout.write(`bitween transfer benchmark: ${SIZE / MiB} MiB random file, ${RUNS} run(s) each, loopback, ${work}\n`);
  await writeLargeRandomFile(source, SIZE);
  // One full read before any timing: the file is in the page cache for every reader alike.
  const digest = await sha1File(source);

  // 4. Hashing: each form once per run, a fresh process for each so nothing is cached in memory.
  const hashMs = { node: [] as number[], bare: [] as number[], prehash: [] as number[], bitween: [] as number[] };
  let seederA: TorrentNode | undefined;
  let share: { infoHash: string; name: string } | undefined;
  let bareSeed: Awaited<ReturnType<typeof startBare>> | undefined;
  for (let run = 0; run < RUNS; run++) {
    hashMs.node.push(await sha1Pieces(source));
    const prehash = await startBare(['prehash', source]);
    hashMs.prehash.push(Number(prehash.first.ms));
    await prehash.child.stop();
    const bare = await startBare(['seed', source]);
    hashMs.bare.push(Number(bare.first.ms));
    const a = await startNode('benchA');
    const shared = await shareOn(a, source);
    hashMs.bitween.push(shared.ms);
    for (const [who, hash] of [['bare webtorrent', bare.first.infoHash], ['the prehash prototype', prehash.first.infoHash]]) {
      if (hash !== shared.infoHash) process.stdout.write(`note: ${who}'s info-hash ${hash} differs from bitween's ${shared.infoHash}\n`);
    }
    const rate = (ms: number) => `${mbps(SIZE, ms).toFixed(0)} MB/s`;
    process.stdout.write(`hashing run ${run + 1}: node SHA-1 ${rate(hashMs.node.at(-1)!)}, prehash + add ${rate(hashMs.prehash.at(-1)!)}, bare webtorrent seed ${rate(hashMs.bare.at(-1)!)}, bitween generate_torrent ${rate(shared.ms)}\n`);
    if (run < RUNS - 1) {
      await bare.child.stop();
      await a.service?.stop();
    } else {
      // The last ones stay up as the seeders of the transfers.
      seederA = a;
      share = shared;
      bareSeed = bare;
    }
  }
  const a = seederA!;
  const { infoHash, name } = share!;

  // aria2: the same .torrent (same pieces, same info-hash) plus the tracker's announce URL.
  const setUpAria2 = async () => {
    const ariaDir = join(work, 'aria2');
    await mkdir(ariaDir);
    const tracker = await startTracker(ariaDir, await freePort(), infoHash);
    onCleanup(`opentracker ${tracker.pid}`, () => tracker.stop());
    const row = await getTorrent(a.db.pool, infoHash);
    if (!row?.torrentFile) throw new Error('bitween stored no .torrent file for the share');
    const torrent = withAnnounce(row.torrentFile, tracker.announce);
    const torrentPath = join(ariaDir, 'share.torrent');
    await writeFile(torrentPath, torrent);
    const seeder = await startAria2Seeder(torrentPath, srcDir, await freePort(), tracker, infoHash);
    onCleanup(`aria2c seeder ${seeder.pid}`, () => seeder.stop());
    return { torrent, seeder };
  };
  const aria2 = !ONLY || ONLY.includes('aria2') ? await setUpAria2() : undefined;

  const report = (who: string, r: TransferRun) =>
    process.stdout.write(
      `  ${who.padEnd(13)} ${mbps(SIZE, r.ms).toFixed(0).padStart(5)} MB/s  ${(r.ms / 1000).toFixed(2)} s  peak RSS ${(r.leecher.peakRss / MiB).toFixed(0)} MiB  CPU ${r.leecherCpuDuring.toFixed(2)} s (process ${r.leecher.cpuSeconds.toFixed(2)} s), seeder CPU ${r.seederCpuDuring.toFixed(2)} s` +
        (r.encryption ? `, ${r.encryption}, first byte at ${(r.firstByteMs! / 1000).toFixed(2)} s` : '') +
        '\n',
    );

  // BENCH_ENCRYPTION: a seeder per setting (the same file, hashed again), both ends of a transfer alike.
  const variants = {
    bitween: { NODE_OPTIONS: TORRENT_NODE_OPTIONS },
    'bitween-plain': { BITWEEN_ENCRYPTION: 'off', NODE_OPTIONS: TORRENT_NODE_OPTIONS },
    'bitween-rc4js': { NODE_OPTIONS: TORRENT_NODE_ARGS.filter((o) => o !== NATIVE_RC4_OPTION).join(' ') },
    'bitween-b': { NODE_OPTIONS: `${TORRENT_NODE_OPTIONS} ${B_NODE_OPTIONS ?? ''}` },
  } satisfies Record<string, Record<string, string>>;
  const seeders: Record<string, TorrentNode> = { bitween: a };
  // A bare webtorrent seeder with bitween's encryption level (2: RC4 picked) and OpenSSL's RC4: webtorrent's
  // default level 1 picks plaintext when libtorrent offers both, so the default bare seeder sends in the clear.
  let bareSeedRc4: Awaited<ReturnType<typeof startBare>> | undefined;
  if (ENCRYPTION && (!ONLY || ONLY.includes('lt-webtorrent-rc4'))) {
    bareSeedRc4 = await startBare(['seed', source], { BENCH_BARE_SECURE: '2', NODE_OPTIONS: NATIVE_RC4_OPTION });
    if (bareSeedRc4.first.infoHash !== infoHash) throw new Error(`the RC4 bare seeder made another info-hash (${String(bareSeedRc4.first.infoHash)})`);
  }
  for (const who of [...(ENCRYPTION ? (['bitween-plain', 'bitween-rc4js'] as const) : []), ...(B_NODE_OPTIONS ? (['bitween-b'] as const) : [])]) {
    if (ONLY && !ONLY.includes(who) && !ONLY.includes(`lt-${who}`)) continue;
    seeders[who] = await startNode(`benchA-${who}`, false, variants[who]);
    const again = await shareOn(seeders[who]!, source);
    if (again.infoHash !== infoHash) throw new Error(`${who}'s seeder made another info-hash (${again.infoHash})`);
  }

  // 1. bitween → bitween: a fresh B whose store holds A's loopback address, as the XMPP service would write it,
  // and A's store B's (A serves only its contacts).
  const viaBitween = (who: keyof typeof variants) => async (): Promise<TransferRun> => {
    const seeder = seeders[who]!;
    const b = await startNode('benchB', true, variants[who]);
    try {
      await storeContactAddress(seeder, { jid: `benchB-${b.namespace}@example.test`, port: b.port });
      // BENCH_CROSS=1: B leeches from the bare webtorrent seeder, to tell leecher from seeder costs apart.
      const cross = !!process.env.BENCH_CROSS && bareSeed;
      const seedPort = cross ? Number(bareSeed!.first.port) : seeder.port;
      await storeContactShare(b, { infoHash, name, size: SIZE, address: '127.0.0.1', port: seedPort });
      return await measure(cross ? bareSeed!.child.pid! : seeder.service!.child.pid!, b.service!.child.pid!, async () => {
        const since = b.bus.mark();
        const started = performance.now();
        await b.bus.publishRaw('add_hash', infoHash);
        await b.bus.waitFor('torrent_done', (m) => m.args[0] === infoHash, TRANSFER_TIMEOUT_MS, since);
        const ms = performance.now() - started;
        if (VERBOSE) {
          const seen = b.bus.seen.slice(since).map((m) => `${m.topic}${m.topic === 'torrent_progress' ? ` ${(Number(m.args[1]) / MiB).toFixed(0)} MiB ${(Number(m.args[3]) / MB).toFixed(0)} MB/s` : ''}`);
          process.stdout.write(`    B saw: ${seen.join(', ')}\n`);
        }
        return ms;
      }, join(b.savePath, name), digest);
    } finally {
      await b.cleanup();
    }
  };

  // 2. bare webtorrent → bare webtorrent: a fresh leecher process, told the hash and the seeder's address.
  const viaWebtorrent = async (run: number): Promise<TransferRun> => {
    const leechDir = join(work, `webtorrent-${run}`);
    const leech = await startBare(['leech', leechDir]);
    try {
      return await measure(bareSeed!.child.pid, leech.child.pid, async () => {
        const started = performance.now();
        const done = leech.next('done', TRANSFER_TIMEOUT_MS);
        leech.send({ infoHash, peer: `127.0.0.1:${Number(bareSeed!.first.port)}` });
        await done;
        return performance.now() - started;
      }, join(leechDir, name), digest);
    } finally {
      await leech.child.stop();
      await rm(leechDir, { recursive: true, force: true });
    }
  };

  // 3. aria2c → aria2c: a fresh leecher that finds the seeder through the tracker.
  const viaAria2 = async (run: number): Promise<TransferRun> => {
    const ariaRun = join(work, `aria2-${run}`);
    await mkdir(ariaRun);
    const leech = await startAria2Leecher(ariaRun, await freePort(), await freePort());
    onCleanup(`aria2c leecher ${leech.pid}`, () => leech.stop());
    try {
      const dl = join(ariaRun, 'dl');
      return await measure(aria2!.seeder.pid, leech.pid, () => leech.fetch(aria2!.torrent, dl, TRANSFER_TIMEOUT_MS), join(dl, name), digest);
    } finally {
      await leech.stop();
      await rm(ariaRun, { recursive: true, force: true });
    }
  };

  // 5. a stock libtorrent leecher, fresh per run, fetching the magnet from one seeder: bitween's A (which takes
  // it as a contact: it connects from 127.0.0.1) or the bare webtorrent seeder.
  await storeContactAddress(a, { jid: 'libtorrent@example.test' });
  if (seeders['bitween-plain']) await storeContactAddress(seeders['bitween-plain'], { jid: 'libtorrent@example.test' });
  const viaLibtorrent = (from: 'bitween' | 'bitween-plain' | 'webtorrent' | 'webtorrent-rc4') => async (run: number): Promise<TransferRun> => {
    const saveDir = join(work, `libtorrent-${from}-${run}`);
    const leech = await startLibtorrentLeecher(30000);
    onCleanup(`libtorrent leecher ${leech.pid}`, () => leech.stop());
    const bare = from === 'webtorrent' ? bareSeed : from === 'webtorrent-rc4' ? bareSeedRc4 : undefined;
    const seederPid = bare ? bare.child.pid : seeders[from]!.service!.child.pid!;
    const port = bare ? Number(bare.first.port) : seeders[from]!.port;
    try {
      let done: Awaited<ReturnType<typeof leech.fetch>> | undefined;
      // The clock runs from libtorrent's first payload byte: before it, libtorrent spends seconds on a uTP attempt
      // (the seeders listen on TCP only) and then fetches the metadata, the same for both seeders.
      const r = await measure(seederPid, leech.pid, async () => {
        done = await leech.fetch({ infoHash, savePath: saveDir, host: '127.0.0.1', port }, TRANSFER_TIMEOUT_MS);
        return done.ms - done.firstByteMs;
      }, join(saveDir, name), digest);
      return { ...r, encryption: done!.encryption, firstByteMs: done!.firstByteMs };
    } finally {
      await leech.stop();
      await rm(saveDir, { recursive: true, force: true });
    }
  };

  const results: Results = { bitween: [], webtorrent: [], aria2: [], 'bitween-plain': [], 'bitween-rc4js': [], 'lt-bitween': [], 'lt-webtorrent': [], 'lt-bitween-plain': [], 'lt-webtorrent-rc4': [], 'bitween-b': [] };
  const all: [keyof Results, (run: number) => Promise<TransferRun>][] = [
    ['bitween', viaBitween('bitween')],
    ['webtorrent', viaWebtorrent],
    ['aria2', viaAria2],
    ['lt-bitween', viaLibtorrent('bitween')],
    ['lt-webtorrent', viaLibtorrent('webtorrent')],
  ];
  if (ENCRYPTION) all.push(['bitween-plain', viaBitween('bitween-plain')], ['bitween-rc4js', viaBitween('bitween-rc4js')], ['lt-bitween-plain', viaLibtorrent('bitween-plain')], ['lt-webtorrent-rc4', viaLibtorrent('webtorrent-rc4')]);
  if (B_NODE_OPTIONS) all.push(['bitween-b', viaBitween('bitween-b')]);
  const contenders = all.filter(([who]) => !ONLY || ONLY.includes(who));
  // Interleaved, and each run starts with a different one: drift in the machine's state (other load, page
  // cache, dirty pages) and any cost of going first or last hit all three alike.
  for (let run = 0; run < RUNS; run++) {
    process.stdout.write(`transfer run ${run + 1}:\n`);
    for (let k = 0; k < contenders.length; k++) {
      const [who, transfer] = contenders[(run + k) % contenders.length]!;
      const r = await transfer(run);
      results[who].push(r);
      report(who, r);
      // Dirty pages of this download go to disk before the next one starts.
      execFileSync('sync');
    }
  }

  printSummary(results, hashMs);
}

type Results = Record<'bitween' | 'webtorrent' | 'aria2' | 'bitween-plain' | 'bitween-rc4js' | 'lt-bitween' | 'lt-webtorrent' | 'lt-bitween-plain' | 'lt-webtorrent-rc4' | 'bitween-b', TransferRun[]>;

function printSummary(results: Results, hashMs: Record<'node' | 'prehash' | 'bare' | 'bitween', number[]>): void {
  const row = (label: string, runs: TransferRun[]) => {
    const ms = median(runs.map((r) => r.ms));
    return {
      label,
      mbps: mbps(SIZE, ms),
      cells: [
        (ms / 1000).toFixed(2),
        mbps(SIZE, ms).toFixed(0),
        (median(runs.map((r) => r.leecher.peakRss)) / MiB).toFixed(0),
        median(runs.map((r) => r.leecherCpuDuring)).toFixed(2),
        median(runs.map((r) => r.leecher.cpuSeconds)).toFixed(2),
        median(runs.map((r) => r.seederCpuDuring)).toFixed(2),
      ],
    };
  };
  const rows = [row('bitween → bitween', results.bitween), row('webtorrent → webtorrent', results.webtorrent), row('aria2 → aria2', results.aria2)];
  const [plain, rc4js] = [row('bitween, encryption off', results['bitween-plain']), row('bitween, RC4 in JavaScript', results['bitween-rc4js'])];
  const ltRows = [row('libtorrent ← bitween', results['lt-bitween']), row('libtorrent ← webtorrent', results['lt-webtorrent']), row('libtorrent ← bitween, off', results['lt-bitween-plain']), row('libtorrent ← webtorrent, RC4', results['lt-webtorrent-rc4'])];
  const head = ['s', 'MB/s', 'peak RSS MiB', 'CPU s', 'CPU s (process)', 'seeder CPU s'];
  const width = (i: number) => Math.max(head[i]!.length, 6);
  const line = (label: string, cells: string[]) => `| ${label.padEnd(24)} | ${cells.map((c, i) => c.padStart(width(i))).join(' | ')} |\n`;
  const out: string[] = [];
  out.push(`\nTransfer, ${SIZE / MiB} MiB over loopback, median of ${RUNS} (leecher's figures; CPU s = during the transfer)\n`);
  out.push(line('', head));
  out.push(`|${'-'.repeat(26)}|${head.map((_, i) => '-'.repeat(width(i) + 2)).join('|')}|\n`);
  for (const r of [...rows, plain, rc4js, ...ltRows]) if (!Number.isNaN(r.mbps)) out.push(line(r.label, r.cells));
  const [bw, wt, ar] = rows.map((r) => r.mbps) as [number, number, number];
  // Per run too: the three ran back to back, so a run's ratio shares that moment's machine state.
  const perRun = (base: TransferRun[], ours = results.bitween) => ours.map((r, i) => (base[i] ? (base[i]!.ms / r.ms).toFixed(2) : '-')).join(' ');
  if (wt && bw) out.push(`\nbitween / bare webtorrent: ${(bw / wt).toFixed(2)}×   (target ≥ 1.00×; per run: ${perRun(results.webtorrent)})\n`);
  if (ar && bw) out.push(`bitween / aria2:           ${(bw / ar).toFixed(2)}×   (per run: ${perRun(results.aria2)})\n`);
  const [ltBw, ltWt, ltPlain, ltWtRc4] = ltRows.map((r) => r.mbps) as [number, number, number, number];
  if (ltBw && ltWt) {
    const ciphers = (runs: TransferRun[]) => [...new Set(runs.map((r) => r.encryption))].join('/');
    out.push(`\nserving libtorrent, bitween / bare webtorrent seeder: ${(ltBw / ltWt).toFixed(2)}×   (target ≥ 1.00×; per run: ${perRun(results['lt-webtorrent'], results['lt-bitween'])})\n`);
    out.push(`  negotiated with libtorrent (default: MSE enabled, RC4 or plaintext, responder picks): bitween ${ciphers(results['lt-bitween'])}, bare webtorrent ${ciphers(results['lt-webtorrent'])}${ltPlain ? `, bitween off ${ciphers(results['lt-bitween-plain'])}` : ''}${ltWtRc4 ? `, bare webtorrent at level 2 ${ciphers(results['lt-webtorrent-rc4'])}` : ''}\n`);
    if (ltPlain) out.push(`  bitween with encryption off / bare webtorrent seeder: ${(ltPlain / ltWt).toFixed(2)}×   (per run: ${perRun(results['lt-webtorrent'], results['lt-bitween-plain'])})\n`);
    if (ltWtRc4) out.push(`  bitween / bare webtorrent seeder at level 2 (both RC4): ${(ltBw / ltWtRc4).toFixed(2)}×   (per run: ${perRun(results['lt-webtorrent-rc4'], results['lt-bitween'])})\n`);
  }
  if (results['bitween-b'].length && results.bitween.length) {
    const b = results['bitween-b'];
    const cpu = (runs: TransferRun[]) => runs.map((r) => r.leecherCpuDuring.toFixed(2)).join(' ');
    const rss = (runs: TransferRun[]) => runs.map((r) => (r.leecher.peakRss / MiB).toFixed(0)).join(' ');
    out.push(`\nA/B, B = NODE_OPTIONS ${B_NODE_OPTIONS}: speed B/A ${(row('', b).mbps / bw).toFixed(2)}× (per run: ${perRun(results.bitween, b)})\n`);
    out.push(`  leecher CPU s, median A ${median(results.bitween.map((r) => r.leecherCpuDuring)).toFixed(2)}, B ${median(b.map((r) => r.leecherCpuDuring)).toFixed(2)} (per run A: ${cpu(results.bitween)}; B: ${cpu(b)})\n`);
    out.push(`  leecher peak RSS MiB, median A ${(median(results.bitween.map((r) => r.leecher.peakRss)) / MiB).toFixed(0)}, B ${(median(b.map((r) => r.leecher.peakRss)) / MiB).toFixed(0)} (per run A: ${rss(results.bitween)}; B: ${rss(b)})\n`);
    out.push(`  seeder CPU s, median A ${median(results.bitween.map((r) => r.seederCpuDuring)).toFixed(2)}, B ${median(b.map((r) => r.seederCpuDuring)).toFixed(2)}\n`);
  }
  if (!Number.isNaN(plain.mbps) && bw) {
    out.push(`\nencryption (OpenSSL's RC4, as pm2 runs it) / off: ${(bw / plain.mbps).toFixed(2)}×   (per run: ${perRun(results['bitween-plain'])})\n`);
    if (!Number.isNaN(rc4js.mbps)) out.push(`encryption with RC4 in JavaScript / off:          ${(rc4js.mbps / plain.mbps).toFixed(2)}×\n`);
  }

  const h = (label: string, ms: number[]) => ({ label, mbps: mbps(SIZE, median(ms)), s: median(ms) / 1000 });
  const [sha1, prehash, seed, bitween] = [
    h('node crypto SHA-1, 1 MiB pieces', hashMs.node),
    h('own piece hashing + webtorrent add()', hashMs.prehash),
    h('webtorrent seed() until ready', hashMs.bare),
    h('bitween generate_torrent → torrent_added', hashMs.bitween),
  ];
  out.push(`\nSharing (hashing) ${SIZE / MiB} MiB, median of ${RUNS}\n`);
  out.push(`| ${'what'.padEnd(40)} |     s |  MB/s |\n|${'-'.repeat(42)}|-------|-------|\n`);
  for (const x of [sha1, prehash, seed, bitween]) out.push(`| ${x!.label.padEnd(40)} | ${x!.s.toFixed(2).padStart(5)} | ${x!.mbps.toFixed(0).padStart(5)} |\n`);
  out.push(`\nhashing bitween / node SHA-1:                  ${(bitween!.mbps / sha1!.mbps).toFixed(2)}×\n`);
  out.push(`hashing bitween / bare webtorrent seed():      ${(bitween!.mbps / seed!.mbps).toFixed(2)}×\n`);
  out.push(`hashing own pieces + add() / node SHA-1:       ${(prehash!.mbps / sha1!.mbps).toFixed(2)}×   (what generate_torrent could reach)\n`);
  process.stdout.write(out.join(''));
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  process.stderr.write(`bench:transfer failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
} finally {
  await cleanupAll();
}
process.exit(failed ? 1 : 0);
