// Footprint of many shares (issue 14.1): resident memory, open file descriptors, restart time and bytes read
// during a restart, at 0 / 1,000 / 5,000 shared files, for bitween and for a private transmission-daemon over
// the same files and the same .torrent files. See bench/README.md for what each figure means.
// Usage: npm run bench:footprint   (BENCH_COUNTS=0,1000,5000  BENCH_FILE_KB=64  BENCH_SETTLE_S=5
//        BENCH_ONLY=bitween,transmission  BENCH_SHARE=live|store  BENCH_DROP_CACHES=1 (root: drops the page
//        cache, machine-wide, before each restart)  BITWEEN_MAX_OPEN_FILES=n, BITWEEN_DORMANT_AFTER_MS=ms for bitween's torrent service)
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProsody, type Prosody } from '../test/fixtures/prosody.js';
import { REDIS_URL, TestBus, newNamespace } from '../test/helpers/bus.js';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.js';
import { storeShares, writeShareFiles, type ShareFile } from '../test/helpers/many-shares.js';
import { freePort } from '../test/helpers/ports.js';
import { startService, startServiceReady, type ServiceProcess } from '../test/helpers/process.js';
import { startWeb } from '../test/helpers/web.js';
import { waitAllFetchable } from './bt-probe.js';
import { startTransmission, waitAllSeeding, waitForRpc, writeTransmissionSettings, type Transmission } from './transmission.js';

const COUNTS = (process.env.BENCH_COUNTS ?? '0,1000,5000').split(',').map(Number);
const FILE_BYTES = Number(process.env.BENCH_FILE_KB ?? 64) * 1024;
const SETTLE_S = Number(process.env.BENCH_SETTLE_S ?? 5);
const ONLY = (process.env.BENCH_ONLY ?? 'bitween,transmission').split(',');
const SHARE = process.env.BENCH_SHARE ?? 'live';
const DROP_CACHES = process.env.BENCH_DROP_CACHES === '1';
/** Bounds every wait: a start, a restart, sharing every file. */
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 900) * 1000;
const MIB = 1024 * 1024;
/** How many torrents the downloader's probe asks after a restart (spread over the list, the last included). */
const PROBE_SAMPLE = Number(process.env.BENCH_PROBE_SAMPLE ?? 50);

/** `n` torrents spread evenly over the list, the first and the last included. */
function sample<T>(list: readonly T[], n: number): T[] {
  if (list.length <= n) return [...list];
  return Array.from({ length: n }, (_, i) => list[Math.round((i * (list.length - 1)) / (n - 1))]!);
}

/** The time of the torrent service's log line saying every stored torrent is in the session. */
function restoredAt(output: readonly string[]): number | undefined {
  // Before the restore ran behind bt_ready, 'listening for peers' came after it and carried the states.
  for (const line of output) {
    if (!/"msg":"(torrents restored|listening for peers)"/.test(line)) continue;
    const rec = JSON.parse(line) as { time: number; msg: string; states?: unknown };
    if (rec.msg === 'torrents restored' || rec.states !== undefined) return rec.time;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`${s}\n`);

interface Fds {
  total: number;
  files: number;
  sockets: number;
}

interface Figures {
  system: string;
  count: number;
  rssBefore: number;
  rssAfter: number;
  /** bitween: torrent RSS after a second restart, probed alike (growth across restarts). */
  rssAgain?: number;
  /** Every service of the node (bitween: torrent, xmpp, nat, web), summed. */
  nodeBefore: number;
  nodeAfter: number;
  fdsBefore: Fds;
  fdsAfter: Fds;
  /** Start of the process → bt_ready (Transmission: its RPC answers). */
  readyMs: number;
  /** Start → each of the probed torrents (BENCH_PROBE_SAMPLE, spread over the list, the last one included)
   *  answered a downloader's handshake with all pieces. */
  fetchableMs: number;
  /** Start → every torrent in the session (bitween: its log line saying so; Transmission: RPC, all seeding). */
  seedingMs: number;
  readBytes: number;
  rchar: number;
  logLines: number;
}

async function rss(pid: number): Promise<number> {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function fds(pid: number): Promise<Fds> {
  const names = await readdir(`/proc/${pid}/fd`);
  const out: Fds = { total: 0, files: 0, sockets: 0 };
  for (const n of names) {
    const target = await readlink(`/proc/${pid}/fd/${n}`).catch(() => '');
    if (target === '') continue;
    out.total++;
    if (target.startsWith('socket:')) out.sockets++;
    else if (target.startsWith('/') && !target.startsWith('/dev/')) out.files++;
  }
  return out;
}

async function io(pid: number): Promise<{ readBytes: number; rchar: number }> {
  const text = await readFile(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { readBytes: field('read_bytes'), rchar: field('rchar') };
}

async function dropCaches(): Promise<void> {
  if (!DROP_CACHES) return;
  execFileSync('sync');
  await writeFile('/proc/sys/vm/drop_caches', '3');
}

// ---- bitween ---------------------------------------------------------------------------------------------

async function runBitween(count: number, dir: string, shares: ShareFile[], prosody: Prosody, work: string): Promise<Figures> {
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const db: TestDatabase = await createTestDatabase();
    cleanups.push(() => db.drop());
    const namespace = newNamespace('fp');
    const bus = await TestBus.open(namespace);
    cleanups.push(() => bus.close());
    const torrentPort = await freePort();
    const user = `fp${count}`;
    await prosody.register(user, 'pw-footprint');
    if (SHARE === 'store') await storeShares(db.pool, dir, shares);
    const env: Record<string, string> = {
      BITWEEN_NAMESPACE: namespace,
      BITWEEN_DATABASE_URL: db.url,
      BITWEEN_REDIS_URL: REDIS_URL,
      BITWEEN_SAVE_PATH: join(work, `downloads-${count}`),
      BITWEEN_SHARE_ROOTS: dir,
      BITWEEN_ALLOW_LOOPBACK: 'true',
      // The probe is no contact (the xmpp service keeps the contact tables as the roster says): any peer may connect.
      BITWEEN_PEERS: 'any',
      BITWEEN_TORRENT_PORT: String(torrentPort),
      BITWEEN_IPV6: 'false',
      BITWEEN_UPNP: 'false',
      BITWEEN_NATPMP: 'false',
      BITWEEN_LOG_LEVEL: 'info',
      BITWEEN_JID: `${user}@${prosody.domain}/footprint`,
      BITWEEN_PASSWORD: 'pw-footprint',
      BITWEEN_XMPP_SERVICE: prosody.service,
      ...(process.env.BITWEEN_MAX_OPEN_FILES ? { BITWEEN_MAX_OPEN_FILES: process.env.BITWEEN_MAX_OPEN_FILES } : {}),
      ...(process.env.BITWEEN_DORMANT_AFTER_MS ? { BITWEEN_DORMANT_AFTER_MS: process.env.BITWEEN_DORMANT_AFTER_MS } : {}),
    };
    const procs: Record<string, ServiceProcess> = {};
    let since = bus.mark();
    procs.torrent = await startServiceReady('torrent', env);
    cleanups.push(() => procs.torrent!.stop());
    await bus.waitFor('bt_ready', () => true, TIMEOUT_MS, since);
    if (SHARE === 'live' && count > 0) {
      // Shared as a user shares, 16 requests in flight (the service takes them in turn).
      const t0 = Date.now();
      const want = new Set(shares.map((s) => s.infoHash));
      const added = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${want.size} shares not added after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
        const check = () => {
          for (const m of bus.seen.slice(since)) if (m.topic === 'torrent_added') want.delete(String(m.args[0]));
          since = bus.mark();
          if (want.size === 0) {
            clearTimeout(timer);
            clearInterval(poll);
            resolve();
          }
        };
        const poll = setInterval(check, 50);
      });
      for (let i = 0; i < shares.length; i += 16) {
        await Promise.all(shares.slice(i, i + 16).map((s) => bus.publish('generate_torrent', [s.path])));
        while (want.size > shares.length - i - 16 + 64 && Date.now() - t0 < TIMEOUT_MS) await sleep(10);
      }
      await added;
      log(`  bitween: ${count} shared with generate_torrent in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    await waitAllFetchable(() => torrentPort, sample(shares, PROBE_SAMPLE), TIMEOUT_MS, PROBE_SAMPLE);
    log('  bitween: every share fetchable; starting nat, xmpp, web');
    procs.nat = await startServiceReady('nat', env);
    cleanups.push(() => procs.nat!.stop());
    procs.xmpp = await startServiceReady('xmpp', env);
    cleanups.push(() => procs.xmpp!.stop());
    await procs.xmpp.waitForLine(/"shares published"/, 60000).catch(() => log('  (xmpp did not log "shares published" within 60 s)'));
    const web = await startWeb(env);
    procs.web = web.service;
    cleanups.push(() => web.service.stop());

    const node = async () => {
      let sum = 0;
      for (const p of Object.values(procs)) sum += await rss(p.child.pid!);
      return sum;
    };
    log('  bitween: node up; settling');
    await sleep(SETTLE_S * 1000);
    const before = { rss: await rss(procs.torrent.child.pid!), node: await node(), fds: await fds(procs.torrent.child.pid!) };

    // The restart: SIGTERM, then a fresh process; the clock runs from its spawn.
    await procs.torrent.stop();
    await dropCaches();
    since = bus.mark();
    const t0 = Date.now();
    procs.torrent = startService('torrent', env);
    const pid = procs.torrent.child.pid!;
    let readyAt = 0;
    const ready = bus.waitFor('bt_ready', () => true, TIMEOUT_MS, since).then(() => (readyAt = Date.now()));
    const fetchableAt = await waitAllFetchable(() => torrentPort, sample(shares, PROBE_SAMPLE), TIMEOUT_MS, PROBE_SAMPLE).catch((err: Error) => {
      throw new Error(`${err.message}; torrent service output:\n${procs.torrent!.output.slice(-10).join('\n')}`);
    });
    await ready;
    const seedingAt = await until(TIMEOUT_MS, async () => restoredAt(procs.torrent!.output) !== undefined).then(() => restoredAt(procs.torrent!.output)!);
    // Everything the restart read: up to bt_ready, every torrent in the session, the probed ones fetchable.
    const read = await io(pid);
    log('  bitween: restarted, every share fetchable');
    await sleep(SETTLE_S * 1000);
    const after = { rss: await rss(pid), node: await node(), fds: await fds(pid) };

    // A second restart, the same way: does anything grow from one restart to the next?
    await procs.torrent.stop();
    since = bus.mark();
    procs.torrent = startService('torrent', env);
    await bus.waitFor('bt_ready', () => true, TIMEOUT_MS, since);
    await waitAllFetchable(() => torrentPort, sample(shares, PROBE_SAMPLE), TIMEOUT_MS, PROBE_SAMPLE);
    await until(TIMEOUT_MS, async () => restoredAt(procs.torrent!.output) !== undefined);
    await sleep(SETTLE_S * 1000);
    const rssAgain = await rss(procs.torrent.child.pid!);
    return {
      system: 'bitween',
      count,
      rssBefore: before.rss,
      rssAfter: after.rss,
      rssAgain,
      nodeBefore: before.node,
      nodeAfter: after.node,
      fdsBefore: before.fds,
      fdsAfter: after.fds,
      readyMs: readyAt - t0,
      fetchableMs: fetchableAt - t0,
      seedingMs: seedingAt - t0,
      ...read,
      logLines: procs.torrent.output.length,
    };
  } finally {
    while (cleanups.length > 0) await cleanups.pop()!().catch((err) => log(`cleanup: ${(err as Error).message}`));
  }
}

/** Polls `ok` every 20 ms; resolves with the time it first held. */
async function until(timeoutMs: number, ok: () => Promise<boolean>): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(20);
  }
  return Date.now();
}

// ---- Transmission ----------------------------------------------------------------------------------------

async function runTransmission(count: number, dir: string, shares: ShareFile[], work: string): Promise<Figures> {
  const configDir = join(work, `transmission-${count}`);
  const rpcPort = await freePort();
  const peerPort = await freePort();
  await writeTransmissionSettings(configDir, { rpcPort, peerPort, downloadDir: dir });
  let t: Transmission | undefined;
  try {
    t = await startTransmission(configDir, rpcPort, peerPort);
    await waitForRpc(t, 30000);
    const t0 = Date.now();
    for (const s of shares) {
      await t.rpc('torrent-add', { metainfo: s.torrentFile.toString('base64'), 'download-dir': dir, paused: false });
    }
    await waitAllSeeding(t, count, TIMEOUT_MS);
    await waitAllFetchable(() => peerPort, sample(shares, PROBE_SAMPLE), TIMEOUT_MS, PROBE_SAMPLE);
    if (count > 0) log(`  transmission: ${count} added and verified in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await sleep(SETTLE_S * 1000);
    const before = { rss: await rss(t.child.pid), fds: await fds(t.child.pid) };

    await t.stop();
    await dropCaches();
    const start = Date.now();
    t = await startTransmission(configDir, rpcPort, peerPort);
    const pid = t.child.pid;
    const lines0 = 0;
    const ready = waitForRpc(t, TIMEOUT_MS).then(() => Date.now());
    const fetchableAt = await waitAllFetchable(() => peerPort, sample(shares, PROBE_SAMPLE), TIMEOUT_MS, PROBE_SAMPLE);
    const readyAt = await ready;
    const seedingAt = await waitAllSeeding(t, count, TIMEOUT_MS);
    const read = await io(pid);
    await sleep(SETTLE_S * 1000);
    const after = { rss: await rss(pid), fds: await fds(pid) };
    return {
      system: 'transmission',
      count,
      rssBefore: before.rss,
      rssAfter: after.rss,
      nodeBefore: before.rss,
      nodeAfter: after.rss,
      fdsBefore: before.fds,
      fdsAfter: after.fds,
      readyMs: readyAt - start,
      fetchableMs: fetchableAt - start,
      seedingMs: seedingAt - start,
      ...read,
      logLines: t.child.output.length - lines0,
    };
  } finally {
    await t?.stop();
  }
}

// ---- report ----------------------------------------------------------------------------------------------

function table(results: Figures[]): string {
  const mib = (b: number) => (b / MIB).toFixed(0);
  const mb = (b: number) => (b / 1e6).toFixed(1);
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const head = '| system | shares | torrent RSS MiB before / after / after 2nd restart | node RSS MiB before / after | fds before / after (files) | start → ready s | → every torrent fetchable s | → all seeding s | read_bytes MB | rchar MB | log lines |';
  const rows = results.map((r) =>
    `| ${r.system} | ${r.count} | ${mib(r.rssBefore)} / ${mib(r.rssAfter)} / ${r.rssAgain === undefined ? '–' : mib(r.rssAgain)} | ${mib(r.nodeBefore)} / ${mib(r.nodeAfter)} | ${r.fdsBefore.total} (${r.fdsBefore.files}) / ${r.fdsAfter.total} (${r.fdsAfter.files}) | ${s(r.readyMs)} | ${s(r.fetchableMs)} | ${s(r.seedingMs)} | ${mb(r.readBytes)} | ${mb(r.rchar)} | ${r.logLines} |`,
  );
  return [head, head.replace(/[^|]+/g, '---'), ...rows].join('\n');
}

function ratios(results: Figures[]): string {
  const out: string[] = [];
  for (const count of COUNTS) {
    const b = results.find((r) => r.system === 'bitween' && r.count === count);
    const t = results.find((r) => r.system === 'transmission' && r.count === count);
    if (!b || !t) continue;
    const x = (a: number, c: number) => (c > 0 ? `${(a / c).toFixed(2)}×` : '–');
    out.push(
      `- ${count} shares, bitween / Transmission: torrent RSS before restart ${x(b.rssBefore, t.rssBefore)}, after ${x(b.rssAfter, t.rssAfter)}, ` +
        `whole node ${x(b.nodeBefore, t.nodeBefore)} / ${x(b.nodeAfter, t.nodeAfter)}, fds after restart ${x(b.fdsAfter.total, t.fdsAfter.total)}, ` +
        `start → ready ${x(b.readyMs, t.readyMs)}, → every torrent fetchable ${x(b.fetchableMs, t.fetchableMs)}, ` +
        `→ all seeding ${x(b.seedingMs, t.seedingMs)}, read_bytes ${x(b.readBytes, t.readBytes)}, rchar ${x(b.rchar, t.rchar)}, log lines ${x(b.logLines, t.logLines)}`,
    );
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bitween-footprint-'));
  let prosody: Prosody | undefined;
  const stop = async () => {
    await prosody?.close();
    await rm(work, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop().then(() => process.exit(130)));
  try {
    const max = Math.max(...COUNTS);
    const dir = join(work, 'shares');
    const t0 = Date.now();
    const all = await writeShareFiles(dir, max, FILE_BYTES);
    log(`${max} files of ${FILE_BYTES / 1024} KiB and their .torrent files made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const results: Figures[] = [];
    if (ONLY.includes('bitween')) prosody = await startProsody();
    for (const count of COUNTS) {
      const shares = all.slice(0, count);
      for (const system of ONLY) {
        log(`${system}, ${count} shares…`);
        const r = system === 'bitween' ? await runBitween(count, dir, shares, prosody!, work) : await runTransmission(count, dir, shares, work);
        results.push(r);
        log(table([r]).split('\n')[2]!);
      }
    }
    process.stdout.write(`\n${table(results)}\n\n${ratios(results)}\n`);
  } finally {
    await stop();
  }
}

await main();
