// Memory under hostile load (issue 12.6): one whole node (torrent, xmpp with a test Prosody, nat with mapping
// off, web) as real processes; 10,000 fuzzed payloads per service on its topics (test/security/
// fuzz-payloads.ts: random JSON, deep nesting, 1 MiB strings, binary garbage, huge arrays…), one service
// after the other. Each service's resident set is read at rest before the fuzz, its peak during the fuzz
// (VmHWM, reset just before through /proc/<pid>/clear_refs, plus VmRSS sampled every 50 ms where that reset
// is not allowed), and after a minute of idle; printed as ratios to the start.
// Targets: peak ≤ 1.5×, after idle ≤ 1.2×.
// Usage: npm run bench:fuzz   (BENCH_FUZZ_COUNT=N per service, BENCH_IDLE_S=60, BENCH_SEED=n,
//        BENCH_HEAP_DIR=/dir: heap snapshots of every service at rest and at the end of the fuzz,
//        BENCH_NODE_OPTIONS: NODE_OPTIONS for the services, e.g. --max-semi-space-size=4,
//        BENCH_NODE_ARGS='--a --b': node's options for every service instead of ecosystem.config.js's node_args,
//        BENCH_NODE_ARGS_<SERVICE>='--a --b' (e.g. BENCH_NODE_ARGS_XMPP): the same for one service,
//        BENCH_ENV='K=V K2=V2': more environment for every service, e.g. MALLOC_ARENA_MAX=2)
// Each service runs with the node_args and env of its app in ecosystem.config.js, as pm2 runs it.
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Fuzzer } from '../test/security/fuzz-payloads.js';
import { SERVICES, startFuzzNode, type FuzzNode, type ServiceName } from '../test/security/fuzz-node.js';
import { ecosystemApp } from './ecosystem.js';
import { procStatusBytes } from './proc-stats.js';

const COUNT = Number(process.env.BENCH_FUZZ_COUNT ?? 10_000);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 60);
const SEED = Number(process.env.BENCH_SEED ?? 20261126);
const HEAP_DIR = process.env.BENCH_HEAP_DIR;
const NODE_ARGS = process.env.BENCH_NODE_ARGS;
/** Before the start figure: let start-up garbage be collected and timers settle. */
const SETTLE_S = 15;
const MIB = 1024 * 1024;

/** node_args and env of each service's pm2 app (ecosystem.config.js), or BENCH_NODE_ARGS for all. */
async function ecosystemLaunch(): Promise<{ nodeArgs: Record<ServiceName, string[]>; env: Record<string, string> }> {
  const nodeArgs = {} as Record<ServiceName, string[]>;
  let env: Record<string, string> = {};
  for (const s of SERVICES) {
    const app = await ecosystemApp(s);
    const own = process.env[`BENCH_NODE_ARGS_${s.toUpperCase()}`] ?? NODE_ARGS;
    nodeArgs[s] = own !== undefined ? own.split(' ').filter(Boolean) : app.nodeArgs;
    // The env is the same for every app (the services share one node's settings).
    env = { ...env, ...app.env };
  }
  for (const kv of (process.env.BENCH_ENV ?? '').split(' ').filter(Boolean)) env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
  return { nodeArgs, env };
}

/** Resets the peak (VmHWM) to the current RSS; false where the kernel or permissions do not allow it. */
async function resetPeak(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (b: number) => `${(b / MIB).toFixed(0)} MiB`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

/** Signals the service to write a heap snapshot (started with --heapsnapshot-signal) and waits for the file. */
async function heapSnapshot(node: FuzzNode, name: ServiceName, dir: string): Promise<void> {
  const before = new Set(await readdir(dir));
  node.procs[name].child.kill('SIGUSR2');
  let lastSize = -1;
  for (let i = 0; i < 600; i++) {
    await sleep(250);
    const fresh = (await readdir(dir)).filter((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (fresh.length === 0) continue;
    // Written as it is walked: a size that stays put for 250 ms means it is done.
    const size = (await stat(join(dir, fresh[0]!))).size;
    if (size > 0 && size === lastSize) return;
    lastSize = size;
  }
}

async function main(): Promise<void> {
  if (HEAP_DIR) await mkdir(HEAP_DIR, { recursive: true });
  const nodeOptions = [process.env.BENCH_NODE_OPTIONS ?? '', HEAP_DIR ? `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${HEAP_DIR}` : ''].join(' ').trim();
  const launch = await ecosystemLaunch();
  process.stderr.write(`node_args: ${SERVICES.map((s) => `${s} [${launch.nodeArgs[s].join(' ')}]`).join(', ')}; env ${JSON.stringify(launch.env)}\n`);
  const node = await startFuzzNode({ env: { ...launch.env, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) }, nodeArgs: launch.nodeArgs });
  const stop = async () => {
    await node.close();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const pids = Object.fromEntries(SERVICES.map((s) => [s, node.procs[s].child.pid!])) as Record<ServiceName, number>;
    process.stderr.write(`node up (${SERVICES.map((s) => `${s} ${pids[s]}`).join(', ')}); settling ${SETTLE_S} s\n`);
    await sleep(SETTLE_S * 1000);
    const start = {} as Record<ServiceName, number>;
    const startAnon = {} as Record<ServiceName, number>;
    for (const s of SERVICES) start[s] = await procStatusBytes(pids[s], 'VmRSS');
    for (const s of SERVICES) startAnon[s] = await procStatusBytes(pids[s], 'RssAnon');
    if (HEAP_DIR) for (const s of SERVICES) await heapSnapshot(node, s, HEAP_DIR);

    let resettable = true;
    for (const s of SERVICES) resettable = (await resetPeak(pids[s])) && resettable;
    const sampled = { ...start };
    const sampler = setInterval(() => {
      for (const s of SERVICES) void procStatusBytes(pids[s], 'VmRSS').then((v) => (sampled[s] = Math.max(sampled[s], v)), () => undefined);
    }, 50);

    const reports = {} as Record<ServiceName, { count: number; largest: number; seconds: number }>;
    for (const [index, name] of SERVICES.entries()) {
      const topics = node.topics[name];
      const fuzzer = new Fuzzer(SEED + index);
      const since = node.received.length;
      const t0 = Date.now();
      let bytes = 0;
      for (let i = 0; i < COUNT; i++) {
        const p = fuzzer.next();
        bytes += p.bytes;
        await node.publish(topics[i % topics.length]!, p.data);
      }
      // Handled in arrival order: the answer to a request sent after the fuzz means all of it was handled.
      const tag = `sentinel-${name}-${SEED}`;
      if (name === 'web') {
        // The relay has no `error` answers: a last event it relays lands in this view too.
        await node.publish('bt_ready', JSON.stringify([tag]));
        await node.waitFor('error', (m) => !m.own && m.raw.includes(tag) && m.raw.includes('"service":"nat"'), 600_000, since);
      } else {
        await node.sentinel(name, { torrent: 'add_hash', xmpp: 'add_contact', nat: 'bt_ready' }[name], tag, 600_000);
      }
      const mine = node.received.slice(since).filter((m) => m.topic === 'error' && !m.own && m.raw.includes(`"service":"${name}"`));
      reports[name] = { count: mine.length, largest: Math.max(0, ...mine.map((m) => m.bytes)), seconds: (Date.now() - t0) / 1000 };
      const busy = mine.filter((m) => m.raw.includes('"code":"E_BUSY"')).length;
      process.stderr.write(`${name}: ${COUNT} payloads (${mib(bytes)}) in ${reports[name].seconds.toFixed(1)} s, ${mine.length} error reports (${busy} E_BUSY: queue full), largest ${reports[name].largest} B\n`);
    }
    clearInterval(sampler);
    const peak = {} as Record<ServiceName, number>;
    for (const s of SERVICES) {
      peak[s] = resettable ? Math.max(await procStatusBytes(pids[s], 'VmHWM'), sampled[s]) : sampled[s];
    }
    if (HEAP_DIR) for (const s of SERVICES) await heapSnapshot(node, s, HEAP_DIR);
    process.stderr.write(`idle ${IDLE_S} s\n`);
    await sleep(IDLE_S * 1000);
    const idle = {} as Record<ServiceName, number>;
    const idleAnon = {} as Record<ServiceName, number>;
    for (const s of SERVICES) idle[s] = await procStatusBytes(pids[s], 'VmRSS');
    for (const s of SERVICES) idleAnon[s] = await procStatusBytes(pids[s], 'RssAnon');
    if (HEAP_DIR) {
      // A snapshot collects all garbage first: what RSS drops by was garbage V8 had not collected yet.
      for (const s of SERVICES) await heapSnapshot(node, s, HEAP_DIR);
      await sleep(2000);
      for (const s of SERVICES) process.stderr.write(`${s}: after idle ${mib(idle[s])}, after the third snapshot ${mib(await procStatusBytes(pids[s], 'VmRSS'))}\n`);
    }
    for (const s of SERVICES) {
      if (node.procs[s].child.exitCode !== null) throw new Error(`${s} exited during the fuzz`);
      const beat = await node.heartbeat(s);
      // No heartbeat at all is a service too busy to beat in time (a loaded machine), not a restart.
      if (!beat) throw new Error(`${s} wrote no heartbeat in time after the fuzz (machine overloaded?): run again`);
      if (beat.pid !== pids[s]) throw new Error(`${s} restarted during the fuzz (pid ${pids[s]} → ${beat.pid})`);
    }

    const rows = SERVICES.map((s) => `| ${s} | ${mib(start[s])} | ${mib(peak[s])} (${ratio(peak[s], start[s])}) | ${mib(idle[s])} (${ratio(idle[s], start[s])}) | ${mib(startAnon[s])} → ${mib(idleAnon[s])} | ${reports[s].count} | ${reports[s].largest} B |`);
    process.stdout.write(
      [
        `fuzz memory: ${COUNT} payloads per service, seed ${SEED}, idle ${IDLE_S} s, peak from ${resettable ? 'VmHWM (reset before the fuzz)' : 'VmRSS sampled every 50 ms'}`,
        '',
        '| service | RSS at rest | peak during the fuzz | after idle | anonymous RSS, rest → idle | error reports | largest report |',
        '|---|---|---|---|---|---|---|',
        ...rows,
        '',
        `targets: peak ≤ 1.50×, after idle ≤ 1.20×`,
        '',
      ].join('\n'),
    );
  } finally {
    await stop();
  }
}

main().catch((err) => {
  process.stderr.write(`bench:fuzz failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
