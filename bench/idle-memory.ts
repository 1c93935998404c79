// Idle memory of one whole node (issue 14.2): the four services under a pm2 daemon of the bench's own, started
// from ecosystem.config.js as `npm start` does (same node_args, same pm2 options), with xmpp logged in to a
// test Prosody and nat's mapping off. After a settle time each app's resident set (VmRSS) and proportional set
// (Pss: shared pages split between the processes that map them) are read from /proc, with the CPU seconds the
// app used while idle. The baseline in the same run: for each service a bare `node` that imports the same
// npm libraries (and nothing of bitween) and idles, started with the same node_args; and a bare `node`.
// Target: the four apps together ≤ 180 MiB.
// Usage: npm run build && node dist/bench/idle-memory.js
//   BENCH_SETTLE_S=30           seconds of idle before the figures
//   BENCH_NODE_ARGS='--a --b'   node_args for every app and baseline instead of ecosystem.config.js's
//   BENCH_APP_OPTIONS='{"pmx":true}'  more pm2 options for every app (JSON), e.g. to compare pm2 settings
//   BENCH_TORRENTS=5000         own torrents (small files, seeding) in the store before the start
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { startProsody, type Prosody } from '../test/fixtures/prosody.js';
import { REDIS_URL, newNamespace } from '../test/helpers/bus.js';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.js';
import { storeShares, writeShareFiles } from '../test/helpers/many-shares.js';
import { freePort } from '../test/helpers/ports.js';
import { TestPm2 } from '../test/helpers/pm2.js';
import { ROOT } from '../test/helpers/process.js';
import { spawnChild, type Child } from './child.js';

const SETTLE_S = Number(process.env.BENCH_SETTLE_S ?? 30);
const NODE_ARGS = process.env.BENCH_NODE_ARGS;
const APP_OPTIONS = JSON.parse(process.env.BENCH_APP_OPTIONS ?? '{}') as Record<string, unknown>;
const TORRENTS = Number(process.env.BENCH_TORRENTS ?? 0);
const TARGET_MIB = 180;
const MIB = 1024 * 1024;
const execFileP = promisify(execFile);

const SERVICES = ['torrent', 'nat', 'xmpp', 'web'] as const;
type Service = (typeof SERVICES)[number];

interface App {
  name: string;
  script: string;
  node_args?: string[];
  [option: string]: unknown;
}

/** The npm libraries each service uses (package.json dependencies), for the "bare node + libraries" baseline. */
const COMMON_LIBS = ['pino', 'pg', 'ioredis'];
const LIBS: Record<Service, string[]> = {
  torrent: ['webtorrent', 'create-torrent', 'bencode', 'fs-chunk-store'],
  nat: ['@silentbot1/nat-api', 'default-gateway', 'ipaddr.js'],
  xmpp: ['@xmpp/client'],
  web: ['fastify'],
};

interface Mem {
  rss: number;
  /** Of the RSS: private memory (heap, stacks, malloc), not backed by a file. */
  anon: number;
  pss: number;
  cpu: number;
}

async function readMem(pid: number): Promise<Mem> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  const rss = kb('VmRSS');
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const pss = Number(/^Pss:\s+(\d+) kB$/m.exec(rollup)?.[1] ?? NaN) * 1024;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rss, anon: kb('RssAnon'), pss, cpu: (Number(f[11]) + Number(f[12])) / 100 };
}

const mib = (b: number) => (Number.isNaN(b) ? '–' : (b / MIB).toFixed(1));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A bare node (the apps' interpreter) that imports `libs` (ESM, as the services do, from the repo) and idles. */
function bareNode(node: string, libs: string[], nodeArgs: string[]): Child {
  const code = `for (const m of ${JSON.stringify(libs)}) await import(m); setInterval(() => {}, 1 << 30);`;
  return spawnChild(node, [...nodeArgs, '--input-type=module', '-e', code]).child;
}

async function main(): Promise<void> {
  process.chdir(ROOT); // the baselines' imports resolve from the working folder
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch((err) => process.stderr.write(`cleanup: ${err}\n`));
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const home = await mkdtemp(join(tmpdir(), 'bitween-idle-'));
    cleanups.push(() => rm(home, { recursive: true, force: true }));
    const db: TestDatabase = await createTestDatabase();
    cleanups.push(() => db.drop());
    const prosody: Prosody = await startProsody();
    cleanups.push(() => prosody.close());
    await prosody.register('idle', 'pw-idle');
    const namespace = newNamespace('idle');
    const shareDir = join(home, 'share');
    await mkdir(shareDir, { recursive: true });
    if (TORRENTS > 0) {
      const t0 = Date.now();
      // Small files (one piece each), stored as shares the torrent service restores without hashing anything.
      await storeShares(db.pool, shareDir, await writeShareFiles(shareDir, TORRENTS, 1024));
      process.stderr.write(`stored ${TORRENTS} own torrents in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }

    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      PM2_HOME: join(home, 'pm2'),
      PM2_CONCURRENT_ACTIONS: '1',
      BITWEEN_NAMESPACE: namespace,
      BITWEEN_REDIS_URL: REDIS_URL,
      BITWEEN_DATABASE_URL: db.url,
      BITWEEN_SAVE_PATH: join(home, 'downloads'),
      BITWEEN_SHARE_ROOTS: shareDir,
      BITWEEN_UPNP: 'false',
      BITWEEN_NATPMP: 'false',
      BITWEEN_ALLOW_LOOPBACK: 'true',
      BITWEEN_WEB_PORT: String(await freePort()),
      BITWEEN_JID: `idle@${prosody.domain}/idle`,
      BITWEEN_PASSWORD: 'pw-idle',
      BITWEEN_XMPP_SERVICE: prosody.service,
    };
    // The apps exactly as ecosystem.config.js declares them, as a JSON config (so that node_args and pm2
    // options can be varied without touching the shipped file).
    const { apps: ecosystemApps } = (await import(pathToFileURL(join(ROOT, 'ecosystem.config.js')).href)) as { apps: App[] };
    const apps: App[] = ecosystemApps.map((a) => ({
      ...a,
      script: join(ROOT, a.script),
      ...(NODE_ARGS !== undefined ? { node_args: NODE_ARGS.split(' ').filter(Boolean) } : {}),
      ...APP_OPTIONS,
    }));
    const configFile = join(home, 'bench.config.json');
    await writeFile(configFile, JSON.stringify({ apps }));
    const pm2 = new TestPm2(env);
    cleanups.push(() => pm2.close());
    await pm2.cli(['start', configFile]);
    await pm2.connect();
    const list = await pm2.waitFor('every app online', (l) => SERVICES.every((s) => l.get(`bitween-${s}`)?.pm2_env.status === 'online' && l.get(`bitween-${s}`)!.pid > 0), 120_000);
    const pids = Object.fromEntries(SERVICES.map((s) => [s, list.get(`bitween-${s}`)!.pid])) as Record<Service, number>;

    // The baselines, started now so that they settle alongside.
    const argsOf = (s: Service) => apps.find((a) => a.name === `bitween-${s}`)!.node_args ?? [];
    const interpreter = (apps[0]!.interpreter as string | undefined) ?? process.execPath;
    const bare = { node: bareNode(interpreter, [], []) } as Record<Service | 'node', Child>;
    for (const s of SERVICES) bare[s] = bareNode(interpreter, [...COMMON_LIBS, ...LIBS[s]], argsOf(s));
    cleanups.push(async () => {
      for (const c of Object.values(bare)) await c.stop();
    });

    process.stderr.write(`node up (${SERVICES.map((s) => `${s} ${pids[s]}`).join(', ')}); idle ${SETTLE_S} s\n`);
    const cpu0 = {} as Record<Service, number>;
    await sleep(5000); // start-up work done
    for (const s of SERVICES) cpu0[s] = (await readMem(pids[s])).cpu;
    await sleep(Math.max(0, SETTLE_S * 1000 - 5000));
    const after = await pm2.list();
    for (const s of SERVICES) {
      const a = after.get(`bitween-${s}`)!;
      if (a.pid !== pids[s] || a.pm2_env.restart_time !== 0) throw new Error(`bitween-${s} restarted while idle: see ${env.PM2_HOME}/logs`);
    }
    const mem = {} as Record<Service, Mem>;
    for (const s of SERVICES) mem[s] = await readMem(pids[s]);
    const base = {} as Record<Service | 'node', Mem>;
    for (const k of Object.keys(bare) as (Service | 'node')[]) base[k] = await readMem(bare[k].pid);

    const idleS = SETTLE_S - 5;
    const total = (k: 'rss' | 'anon' | 'pss') => SERVICES.reduce((n, s) => n + mem[s][k], 0);
    const rows = SERVICES.map(
      (s) =>
        `| ${s} | ${mib(mem[s].rss)} | ${mib(mem[s].anon)} | ${mib(mem[s].pss)} | ${((mem[s].cpu - cpu0[s]) / idleS * 1000).toFixed(1)} | ${mib(base[s].rss)} | ${mib(mem[s].rss - base[s].rss)} | ${argsOf(s).join(' ') || '–'} |`,
    );
    const { stdout: version } = await execFileP(interpreter, ['--version']);
    process.stdout.write(
      [
        `idle memory: node ${version.trim()}, settled ${SETTLE_S} s, ${TORRENTS} own torrents${Object.keys(APP_OPTIONS).length ? `, pm2 options ${JSON.stringify(APP_OPTIONS)}` : ''}`,
        '',
        '| service | RSS MiB | of it anonymous | PSS MiB | idle CPU ms/s | bare node + its libraries, RSS MiB | bitween over that, MiB | node_args |',
        '|---|---|---|---|---|---|---|---|',
        ...rows,
        `| **whole node** | **${mib(total('rss'))}** | ${mib(total('anon'))} | ${mib(total('pss'))} | | ${mib(SERVICES.reduce((n, s) => n + base[s].rss, 0))} | | |`,
        '',
        `bare node (no import, no flags): RSS ${mib(base.node.rss)} MiB; target for the whole node: ≤ ${TARGET_MIB} MiB RSS (${total('rss') / MIB <= TARGET_MIB ? 'met' : 'not met'})`,
        '',
      ].join('\n'),
    );
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  process.stderr.write(`bench idle-memory failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
